#!/usr/bin/env bash
# Make sure the real services the tests talk to are installed and running on loopback:
# Mosquitto (127.0.0.1:1883) and PostgreSQL (127.0.0.1:5432, trust auth for local tests).
# Idempotent; installs from Debian's packages when absent instead of letting tests skip.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_install() {
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "$@" >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "$@" >/dev/null
  }
}

if ! listening 1883; then
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || apt_install mosquitto
  conf=/etc/mosquitto/mosquitto.conf
  if [ -f "$conf" ]; then $SUDO /usr/sbin/mosquitto -d -c "$conf"; else $SUDO /usr/sbin/mosquitto -d -p 1883; fi
  for _ in $(seq 50); do listening 1883 && break; sleep 0.1; done
  listening 1883 || { echo "mosquitto did not start on 127.0.0.1:1883" >&2; exit 1; }
fi

if ! listening 5432; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  ver=$(ls /etc/postgresql | sort -n | tail -1)
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    $SUDO sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start
  for _ in $(seq 100); do listening 5432 && break; sleep 0.1; done
  listening 5432 || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
fi
echo "services: mosquitto :1883 and postgresql :5432 are up"

# --- Chromium for the browser tests (tests/shore_gateway/web/test_browser.py) ---------------
# Debian's package, driven by Playwright with executable_path=/usr/bin/chromium; Playwright's
# own browser download is never used. Installed only when missing.
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
  [ -x /usr/bin/chromium ] || { echo "chromium did not install" >&2; exit 1; }
fi
echo "browser: /usr/bin/chromium is installed"

# --- Node.js for the crew app's bundle check (tests/vessel_agent/crewapp/test_bundle.py) -----
# The box never needs Node: the built bundle ships in the Python package; the test rebuilds it
# from vessel_agent/crewapp/web/package-lock.json (npm ci) and compares. Emoji font for the
# crew app's category pictures in screenshots and on a kiosk screen.
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || apt_install fonts-noto-color-emoji
echo "node: $(node --version), npm $(npm --version)"
