#!/usr/bin/env bash
# install-test-deps.sh installs what citywatch's integration tests run as child processes:
#   mosquitto, mosquitto_pub/sub, ffmpeg, chromium, chromedriver, GStreamer's RTSP server for python3-gi,
#   stress-ng for `make stress` (Debian packages), and influxd v1.8.10,
#   victoria-metrics v1.151.0 and prometheus v0.316.0 (remote-write receivers), built from source with the Go
#   toolchain into $CITYWATCH_TEST_BIN, default ~/.cache/citywatch/bin.
#
# It is idempotent: it installs only what is missing, runs apt-get update only when it has to install, and
# never leaves a system mosquitto service running (tests start their own on free ports; a system one would
# also hold :1883, the demo's default). It runs as root, or through sudo when that is available.
#
# With CI=true any failure exits non-zero with a message saying what is missing; otherwise it warns and
# carries on, so a developer without root still gets what can be had.
set -uo pipefail

CACHE="${CITYWATCH_TEST_BIN:-$HOME/.cache/citywatch/bin}"
# name|package|module|version of the Go-built servers: influxd (the InfluxDB forwarder's tests) and the
# remote-write receivers; prometheus needs no web assets (tests use its API). go install does not stamp
# `influxd version`, so each is checked by the module version read from the binary.
GO_TOOLS=(
	"influxd|github.com/influxdata/influxdb/cmd/influxd|github.com/influxdata/influxdb|v1.8.10"
	"victoria-metrics|github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics|github.com/VictoriaMetrics/VictoriaMetrics|v1.151.0"
	"prometheus|github.com/prometheus/prometheus/cmd/prometheus|github.com/prometheus/prometheus|v0.316.0"
)
APT_PACKAGES=(mosquitto mosquitto-clients ffmpeg chromium chromium-driver)
# GStreamer's RTSP server through python3-gi: the third-party MJPEG (RTP/JPEG) camera of cameras' tests.
APT_PACKAGES+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
	gstreamer1.0-plugins-ugly gstreamer1.0-libav)
# stress-ng: the CPU hog `make stress` runs the integration tests under.
APT_PACKAGES+=(stress-ng)

failures=()

say() { printf 'install-test-deps: %s\n' "$*"; }
warn() { printf 'install-test-deps: WARNING: %s\n' "$*" >&2; }
fail() {
	failures+=("$1")
	warn "$1"
}

# as_root runs a command as root: directly, through sudo -n, or not at all (returns 1).
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo -n "$@"
	else
		return 1
	fi
}

can_root() {
	[ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

pkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# policy_rc_d_block stops package scripts from starting services while we install (the Debian mechanism
# containers use); policy_rc_d_restore undoes it. An existing policy-rc.d is left alone.
POLICY=/usr/sbin/policy-rc.d
policy_added=0
policy_rc_d_block() {
	if [ ! -e "$POLICY" ]; then
		if as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $POLICY && chmod 755 $POLICY"; then
			policy_added=1
		fi
	fi
}
policy_rc_d_restore() {
	if [ "$policy_added" -eq 1 ]; then
		as_root rm -f "$POLICY" || warn "could not remove $POLICY; remove it by hand"
		policy_added=0
	fi
}
trap policy_rc_d_restore EXIT

install_apt_packages() {
	local missing=()
	for p in "${APT_PACKAGES[@]}"; do
		pkg_installed "$p" || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		say "apt packages present: ${APT_PACKAGES[*]}"
		return
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		fail "apt-get not found; install by hand: ${missing[*]}"
		return
	fi
	if ! can_root; then
		fail "need root or passwordless sudo to install: ${missing[*]}"
		return
	fi
	say "installing missing packages: ${missing[*]}"
	policy_rc_d_block
	export DEBIAN_FRONTEND=noninteractive
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q; then
		fail "apt-get update failed"
		policy_rc_d_restore
		return
	fi
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; then
		fail "apt-get install failed for: ${missing[*]}"
	fi
	policy_rc_d_restore
}

# stop_system_mosquitto stops and disables a mosquitto service the package may have started. Tests run
# their own brokers; the service would only hold port 1883.
stop_system_mosquitto() {
	pkg_installed mosquitto || return 0
	can_root || return 0
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		if systemctl is-enabled --quiet mosquitto 2>/dev/null || systemctl is-active --quiet mosquitto 2>/dev/null; then
			say "stopping and disabling the mosquitto system service"
			as_root systemctl disable --now mosquitto >/dev/null 2>&1 || warn "could not stop the mosquitto service"
		fi
		return 0
	fi
	# No systemd: a SysV init script may have started it (its pid file says so).
	if [ -x /etc/init.d/mosquitto ] && [ -s /run/mosquitto/mosquitto.pid ] &&
		kill -0 "$(cat /run/mosquitto/mosquitto.pid)" 2>/dev/null; then
		say "stopping the mosquitto init.d service"
		as_root /etc/init.d/mosquitto stop >/dev/null 2>&1 || warn "could not stop the mosquitto service"
	fi
	if command -v update-rc.d >/dev/null 2>&1 && ls /etc/rc2.d/S*mosquitto >/dev/null 2>&1; then
		as_root update-rc.d mosquitto disable >/dev/null 2>&1 || true
	fi
}

# go_tool_ok reports whether binary $1 was built from module $2 at version $3 (read from the binary).
go_tool_ok() {
	[ -x "$1" ] || return 1
	command -v go >/dev/null 2>&1 || return 0
	go version -m "$1" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$2[[:space:]]+$3([[:space:]]|$)"
}

# install_go_tool builds name from pkg@version into $CACHE unless a binary of that module version is there.
install_go_tool() {
	local name="$1" pkg="$2" mod="$3" version="$4"
	local bin="$CACHE/$name"
	if go_tool_ok "$bin" "$mod" "$version"; then
		say "$name $version present: $bin"
		return
	fi
	if ! command -v go >/dev/null 2>&1; then
		fail "go not found; cannot build $name $version into $CACHE"
		return
	fi
	mkdir -p "$CACHE" || {
		fail "cannot create $CACHE"
		return
	}
	# Another run may be building it right now: wait for it rather than build twice.
	local lock="$CACHE/.$name.lock"
	exec 8>"$lock"
	if command -v flock >/dev/null 2>&1; then
		flock 8
	fi
	if go_tool_ok "$bin" "$mod" "$version"; then
		say "$name $version present: $bin"
		exec 8>&-
		return
	fi
	say "building $name $version into $CACHE (takes a few minutes on 2 cores)..."
	if (cd / && GOFLAGS='' GOBIN="$CACHE" go install "$pkg@$version"); then
		say "built $bin"
	else
		fail "building $name $version failed (go install $pkg@$version)"
	fi
	exec 8>&-
}

install_go_tools() {
	local t name pkg mod version
	for t in "${GO_TOOLS[@]}"; do
		IFS='|' read -r name pkg mod version <<<"$t"
		install_go_tool "$name" "$pkg" "$mod" "$version"
	done
}

summary() {
	say "summary:"
	local name path
	for name in mosquitto mosquitto_pub mosquitto_sub ffmpeg chromium chromedriver; do
		path="$(PATH="$PATH:/usr/sbin:/sbin" command -v "$name" 2>/dev/null || true)"
		printf '  %-14s %s\n' "$name" "${path:-MISSING}"
	done
	if /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0"); from gi.repository import GstRtspServer' 2>/dev/null; then
		printf '  %-14s %s\n' gst-rtsp "python3-gi GstRtspServer 1.0"
	else
		printf '  %-14s %s\n' gst-rtsp "MISSING (python3-gi GstRtspServer 1.0)"
	fi
	local t pkg mod version
	for t in "${GO_TOOLS[@]}"; do
		IFS='|' read -r name pkg mod version <<<"$t"
		if go_tool_ok "$CACHE/$name" "$mod" "$version"; then
			printf '  %-14s %s (%s)\n' "$name" "$CACHE/$name" "$version"
		else
			printf '  %-14s %s\n' "$name" "MISSING ($CACHE/$name)"
		fi
	done
}

install_apt_packages
stop_system_mosquitto
install_go_tools
summary

if [ ${#failures[@]} -gt 0 ]; then
	if [ "${CI:-}" = "true" ]; then
		printf 'install-test-deps: FAILED (CI=true):\n' >&2
		printf '  - %s\n' "${failures[@]}" >&2
		exit 1
	fi
	warn "some dependencies are missing; their integration tests will be skipped (they fail under CI=true)"
fi
exit 0
