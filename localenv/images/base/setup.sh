#!/bin/sh
# Runs inside the freshly debootstrapped rootfs (chroot) and turns it into a container base image,
# the way Debian's official images are made: debuerreotype's "minimizing config" (policy-rc.d, apt
# cleaning, no recommends) and "slimify" (no docs, man pages or translations), as in
# https://github.com/debuerreotype/debuerreotype (scripts/debuerreotype-minimizing-config,
# scripts/.slimify-excludes). Later package layers inherit these settings.
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

# Services must never start inside a chroot or an image build (invoke-rc.d honours this).
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d

cat >/etc/dpkg/dpkg.cfg.d/docker-nodoc <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
echo 'force-unsafe-io' >/etc/dpkg/dpkg.cfg.d/docker-apt-speedup

cat >/etc/apt/apt.conf.d/docker-clean <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
cat >/etc/apt/apt.conf.d/docker-no-recommends <<'CFG'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
CFG
echo 'Acquire::Languages "none";' >/etc/apt/apt.conf.d/docker-no-languages

# The same suites the host's apt uses (release, updates, security), in deb822 form like the
# official bookworm image.
rm -f /etc/apt/sources.list
cat >/etc/apt/sources.list.d/debian.sources <<CFG
Types: deb
URIs: ${MIRROR}
Suites: ${SUITE} ${SUITE}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR}-security
Suites: ${SUITE}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
CFG

apt-get update -qq
apt-get -y -qq upgrade
apt-get clean

# What dpkg installed before the excludes existed (debootstrap's packages): the same paths.
find /usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/lintian/*
# update-alternatives fails when a man page's folder is missing (Debian bug #863199): OpenJDK's
# postinst links java.1.gz there.
mkdir -p /usr/share/man/man1
find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old /tmp/* /var/tmp/*
find /var/log -type f -exec truncate -s 0 {} +
