# An EKS node AMI with nodecap baked in: the EKS-optimized Amazon Linux 2023 AMI for your
# Kubernetes version, plus the nodecap RPM with nodecap-init.service (sizes the node before
# the kubelet) and nodecap.service (metrics) enabled.
#
#   packaging/build.sh && packer build ami/nodecap-al2023.pkr.hcl   # from the repository root
#   packer build -var architecture=arm64 ami/nodecap-al2023.pkr.hcl  # Graviton (m7g, c7g, …)
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

variable "architecture" {
  type        = string
  default     = "x86_64"
  description = "x86_64 or arm64 (Graviton): picks the EKS AL2023 AMI, the RPM and the build instance."
  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "The architecture must be x86_64 or arm64."
  }
}

variable "source_ami_name" {
  type        = string
  default     = ""
  description = "Name filter of the base AMI; empty: the EKS-optimized AL2023 standard AMI of the architecture for kubernetes_version."
}

variable "source_ami_owner" {
  type        = string
  default     = "602401143452"
  description = "Owner of the EKS-optimized AMIs (Amazon EKS, most regions)."
}

variable "instance_type" {
  type        = string
  default     = ""
  description = "The build instance; empty: m5.large (x86_64) or m7g.large (arm64)."
}

variable "rpm" {
  type        = string
  default     = ""
  description = "Path of the nodecap RPM to install; empty: the architecture's RPM packaging/build.sh builds (from the repository root)."
}

variable "ami_name_prefix" {
  type    = string
  default = "eks-al2023-nodecap"
}

locals {
  # Per architecture: the AMI name's and EC2's word for it, the RPM's, a build instance.
  arch = {
    x86_64 = { ami = "x86_64", rpm = "x86_64", instance_type = "m5.large" }
    arm64  = { ami = "arm64", rpm = "aarch64", instance_type = "m7g.large" }
  }[var.architecture]
  source_ami_name = var.source_ami_name != "" ? var.source_ami_name : "amazon-eks-node-al2023-${local.arch.ami}-standard-${var.kubernetes_version}-v*"
  instance_type   = var.instance_type != "" ? var.instance_type : local.arch.instance_type
  rpm             = var.rpm != "" ? var.rpm : "target/packages/nodecap-0.1.0-1.${local.arch.rpm}.rpm"
  timestamp       = regex_replace(timestamp(), "[- TZ:]", "")
}

source "amazon-ebs" "al2023" {
  region        = var.region
  instance_type = local.instance_type
  ssh_username  = "ec2-user"
  ami_name      = "${var.ami_name_prefix}-${var.kubernetes_version}-${local.arch.ami}-${local.timestamp}"

  source_ami_filter {
    filters = {
      name                = local.source_ami_name
      architecture        = local.arch.ami
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = [var.source_ami_owner]
    most_recent = true
  }

  tags = {
    Name               = "${var.ami_name_prefix}-${var.kubernetes_version}"
    kubernetes_version = var.kubernetes_version
    architecture       = local.arch.ami
    nodecap            = "baked"
  }
}

build {
  sources = ["source.amazon-ebs.al2023"]

  provisioner "file" {
    source      = local.rpm
    destination = "/tmp/nodecap.rpm"
  }

  provisioner "shell" {
    script           = "${path.root}/provision.sh"
    environment_vars = ["NODECAP_RPM=/tmp/nodecap.rpm"]
    execute_command  = "sudo -E sh -c '{{ .Vars }} {{ .Path }}'"
  }
}
