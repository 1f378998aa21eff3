#!/bin/bash
# As docker-postgis's initdb-postgis.sh (https://github.com/postgis/docker-postgis): a
# template_postgis database and the PostGIS extensions in it and in POSTGRES_DB.
set -e
export PGUSER="$POSTGRES_USER"
psql --no-psqlrc --dbname="$POSTGRES_DB" <<-'EOSQL'
	CREATE DATABASE template_postgis IS_TEMPLATE true;
EOSQL
for db in template_postgis "$POSTGRES_DB"; do
	echo "Loading PostGIS extensions into $db"
	psql --no-psqlrc --dbname="$db" <<-'EOSQL'
		CREATE EXTENSION IF NOT EXISTS postgis;
		CREATE EXTENSION IF NOT EXISTS postgis_topology;
		CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;
		CREATE EXTENSION IF NOT EXISTS postgis_tiger_geocoder;
	EOSQL
done
