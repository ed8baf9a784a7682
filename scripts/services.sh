#!/usr/bin/env bash
# Makes sure PostgreSQL, MariaDB and Redis (the Celery broker of the distributed e2e test) answer on
# 127.0.0.1 for the tests (see shared/services.md): starts them when they are installed but down,
# installs them (as root) when they are missing.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
maria_up() { mysqladmin -h 127.0.0.1 -P 3306 -u root status >/dev/null 2>&1; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
wait_for() { for _ in $(seq 1 60); do "$1" && return 0; sleep 1; done; echo "services: $2 did not come up" >&2; return 1; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -x /usr/sbin/mariadbd ]; then
  echo "services: installing postgresql and mariadb-server"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql mariadb-server >/dev/null
  fresh_install=1
fi

if ! pg_up; then
  echo "services: starting PostgreSQL"
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ "${fresh_install:-0}" = 1 ]; then
    # The tests connect as postgres/root without a password over TCP, as on the project machines.
    hba=/etc/postgresql/$version/main/pg_hba.conf
    sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for pg_up PostgreSQL
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='root'\" | grep -q 1 || createuser -s root" || true
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='test'\" | grep -q 1 || createdb test" || true
fi

if ! maria_up; then
  echo "services: starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  wait_for maria_up MariaDB
  mysql -h 127.0.0.1 -u root -e "CREATE DATABASE IF NOT EXISTS test" || true
fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo "services: installing redis-server"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
if ! redis_up; then
  echo "services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis \
    --logfile /var/log/redis/ci.log
  wait_for redis_up Redis
fi
