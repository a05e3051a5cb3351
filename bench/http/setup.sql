-- bench/http/setup.sql: the roles PostgREST needs (examples/postgrest.conf),
-- created in the benchmark's throwaway cluster for case 8.
CREATE ROLE authenticator LOGIN NOINHERIT;
CREATE ROLE web_anon NOLOGIN;
CREATE ROLE web_patient NOLOGIN IN ROLE medreserve_patient;
GRANT web_anon, web_patient TO authenticator;
GRANT medreserve_gateway TO authenticator;
GRANT USAGE ON SCHEMA public TO web_anon, web_patient;
