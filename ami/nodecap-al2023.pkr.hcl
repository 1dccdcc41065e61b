# An EKS node AMI with nodecap baked in: the EKS-optimized Amazon Linux 2023 AMI for your
# Kubernetes version, plus the nodecap RPM with nodecap-init.service (sizes the node before
# the kubelet) and nodecap.service (metrics) enabled.
#
#   packaging/build.sh && packer build ami/nodecap-al2023.pkr.hcl   # from the repository root
#
# Valid for Packer 1.6.6 (Debian's); see ami/README.md for what to add on newer Packer.

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "kubernetes_version" {
  type    = string
  default = "1.33"
}

variable "source_ami_name" {
  type        = string
  default     = ""
  description = "Name filter of the base AMI; empty: the EKS-optimized AL2023 x86_64 standard AMI for kubernetes_version."
}

variable "source_ami_owner" {
  type        = string
  default     = "602401143452"
  description = "Owner of the EKS-optimized AMIs (Amazon EKS, most regions)."
}

variable "instance_type" {
  type    = string
  default = "m5.large"
}

variable "rpm" {
  type        = string
  default     = "target/packages/nodecap-0.1.0-1.x86_64.rpm"
  description = "Path of the nodecap RPM to install (the default: what packaging/build.sh builds, from the repository root)."
}

variable "ami_name_prefix" {
  type    = string
  default = "eks-al2023-nodecap"
}

locals {
  source_ami_name = var.source_ami_name != "" ? var.source_ami_name : "amazon-eks-node-al2023-x86_64-standard-${var.kubernetes_version}-v*"
  timestamp       = regex_replace(timestamp(), "[- TZ:]", "")
}

source "amazon-ebs" "al2023" {
  region        = var.region
  instance_type = var.instance_type
  ssh_username  = "ec2-user"
  ami_name      = "${var.ami_name_prefix}-${var.kubernetes_version}-${local.timestamp}"

  source_ami_filter {
    filters = {
      name                = local.source_ami_name
      architecture        = "x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = [var.source_ami_owner]
    most_recent = true
  }

  tags = {
    Name               = "${var.ami_name_prefix}-${var.kubernetes_version}"
    kubernetes_version = var.kubernetes_version
    nodecap            = "baked"
  }
}

build {
  sources = ["source.amazon-ebs.al2023"]

  provisioner "file" {
    source      = var.rpm
    destination = "/tmp/nodecap.rpm"
  }

  provisioner "shell" {
    script           = "${path.root}/provision.sh"
    environment_vars = ["NODECAP_RPM=/tmp/nodecap.rpm"]
    execute_command  = "sudo -E sh -c '{{ .Vars }} {{ .Path }}'"
  }
}
