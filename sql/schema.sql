-- The API functions go to the schema named at CREATE EXTENSION; the tables
-- always live in schema medreserve.  It reinstalls the extension and leaves
-- it as --load-extension made it (in the default schema), so it may run in
-- any place of the REGRESS list.
\set SHOW_CONTEXT never

DROP EXTENSION medreserve;
SELECT count(*) AS leftover_schemas FROM pg_namespace WHERE nspname = 'medreserve';
CREATE SCHEMA api;
CREATE EXTENSION medreserve SCHEMA api;
SELECT p.oid::regprocedure AS function, p.provolatile, p.prosecdef, l.lanname, p.proconfig
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = 'api'::regnamespace ORDER BY p.oid::regprocedure::text;
SELECT c.relname FROM pg_class c
WHERE c.relnamespace = 'medreserve'::regnamespace AND c.relkind = 'r' ORDER BY 1;

-- every function and table is documented for \dx+ and \df+ readers
SELECT count(*) AS undocumented
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'medreserve')
  AND d.classid IN ('pg_proc'::regclass, 'pg_class'::regclass)
  AND (d.classid <> 'pg_class'::regclass
       OR (SELECT relkind FROM pg_class WHERE oid = d.objid) = 'r')
  AND obj_description(d.objid, d.classid::regclass::name) IS NULL;

-- the API works from there
INSERT INTO medreserve.doctors (name) VALUES ('Dr Ada Grey');
INSERT INTO medreserve.slots (doctor_id, start_time) VALUES (1, '2099-03-02 09:00+00');
SELECT id, status FROM api.medreserve_book(1, 'Ann Lee');

-- the extension's tables are dumped by pg_dump as user data
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension WHERE extname = 'medreserve' ORDER BY 1;

DROP EXTENSION medreserve;
DROP SCHEMA api;
CREATE EXTENSION medreserve;
