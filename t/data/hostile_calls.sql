-- hostile_calls.sql: generate the calls of t/080_hostile.pl into hostile.calls.
--
-- Each call is one SQL statement run by hostile.run() inside its own
-- subtransaction, which records the SQLSTATE (00000 for success).  A call is
-- judged by two columns:
--   pre    set when an argument never reaches the function because
--          PostgreSQL itself rejects it first (lexer, function resolution,
--          input function, argument evaluation): the call must fail with one
--          of these codes.  Those codes, and why each can appear:
--            42725  an untyped NULL or quoted literal as the first argument
--                   of the overloaded book/hold (documented in README)
--            42883  an argument type with no implicit cast to integer:
--                   bigint (2147483648), numeric (1.5), boolean, bigint[],
--                   text expressions
--            42601  string literals with invalid Unicode escapes (lone
--                   surrogates, \u0000, beyond U+10FFFF): the lexer refuses
--                   them as a syntax error
--            22021  bytes that are not UTF-8 (E'\xff', a cut-off sequence,
--                   convert_from of such bytes)
--            22P02  text that is not an integer or array literal cast to int
--            22003  an integer literal beyond int4
--            54000  chr(0): PostgreSQL text cannot hold NUL
--            22007, 22008  timestamp literals that do not parse or name an
--                   impossible date
--   ok     the function's documented SQLSTATEs (README, Errors); the call
--          must succeed or fail with one of them.
--   expect the exact SQLSTATE when it does not depend on the tables: the
--          arguments are checked in order (slot, name, email) before any row
--          is touched, so the first invalid one decides.
-- psql variables: :past_slot (a slot that has started), :big_literal (1 MB
-- of 'y' as a quoted literal).

CREATE TEMP TABLE v (fam text, expr text, pre text[], vcode text, note text);

-- single slot ids (first argument of book/hold)
INSERT INTO v VALUES
  ('slot1', '1', NULL, NULL, NULL),                          -- booked in the set-up
  ('slot1', '5', NULL, NULL, NULL),                          -- held
  ('slot1', '10', NULL, NULL, NULL),                         -- under a lapsed hold
  ('slot1', '20', NULL, NULL, NULL),
  ('slot1', :'past_slot', NULL, NULL, NULL),                 -- started
  ('slot1', '0', NULL, NULL, NULL),
  ('slot1', '-1', NULL, NULL, NULL),
  ('slot1', '2147483647', NULL, NULL, NULL),
  ('slot1', '-2147483648', NULL, NULL, NULL),
  ('slot1', 'NULL::integer', NULL, '22004', NULL),
  ('slot1', '''7''::int2', NULL, NULL, NULL),
  ('slot1', ''' 21 ''::int', NULL, NULL, NULL),
  ('slot1', 'NULL', '{42725}', NULL, NULL),
  ('slot1', '''abc''', '{42725}', NULL, NULL),
  ('slot1', '2147483648', '{42883}', NULL, NULL),
  ('slot1', '-2147483649', '{42883}', NULL, NULL),
  ('slot1', '1.5', '{42883}', NULL, NULL),
  ('slot1', 'true', '{42883}', NULL, NULL),
  ('slot1', '''1''::text', '{42883}', NULL, NULL),
  ('slot1', '''abc''::int', '{22P02}', NULL, NULL),
  ('slot1', '''2147483648''::int', '{22003}', NULL, NULL),
  ('slot1', '''1e3''::int', '{22P02}', NULL, NULL);

-- slot id arrays
INSERT INTO v VALUES
  ('arr', 'ARRAY[]::int[]', NULL, '22023', 'empty'),
  ('arr', '''{}''::int[]', NULL, '22023', 'empty'),
  ('arr', '''{{21,22},{23,24}}''::int[]', NULL, '22023', '2-D'),
  ('arr', '''{{{21}}}''::int[]', NULL, '22023', '3-D'),
  ('arr', 'NULL::int[]', NULL, '22004', NULL),
  ('arr', 'ARRAY[NULL]::int[]', NULL, '22004', NULL),
  ('arr', 'ARRAY[21, NULL]', NULL, '22004', NULL),
  ('arr', 'array_fill(NULL::int, ARRAY[5])', NULL, '22004', NULL),
  ('arr', 'array_fill(NULL::int, ARRAY[10000])', NULL, '22023', '10,000 nulls'),
  ('arr', 'ARRAY[23, 23]', NULL, '22023', 'repeated'),
  ('arr', 'ARRAY[22, 23, 22]', NULL, '22023', 'repeated'),
  ('arr', 'array_fill(7, ARRAY[10000])', NULL, '22023', '10,000 repeated ids'),
  ('arr', 'array_fill(7, ARRAY[100])', NULL, '22023', '100 repeated ids'),
  ('arr', '(SELECT array_agg(g) FROM generate_series(1, 10000) g)', NULL, '22023', '10,000 ids'),
  ('arr', '(SELECT array_agg(g ORDER BY random()) FROM generate_series(1, 10000) g)', NULL, '22023', '10,000 ids, shuffled'),
  ('arr', '(SELECT array_agg(g) FROM generate_series(1, 101) g)', NULL, '22023', '101 ids'),
  ('arr', '(SELECT array_agg(g) FROM generate_series(1, 100) g)', NULL, NULL, '100 ids, two doctors'),
  ('arr', '(SELECT array_agg(g) FROM generate_series(2000000, 2000099) g)', NULL, NULL, '100 missing ids'),
  ('arr', '(SELECT array_agg(g) FROM generate_series(-5, 5) g)', NULL, NULL, NULL),
  ('arr', 'ARRAY[24, 50]', NULL, NULL, 'two doctors'),
  ('arr', 'ARRAY[26, 25]', NULL, NULL, NULL),
  ('arr', 'ARRAY[1, 2]', NULL, NULL, NULL),
  ('arr', 'ARRAY[2147483647, -2147483648]', NULL, NULL, NULL),
  ('arr', 'ARRAY[0]', NULL, NULL, NULL),
  ('arr', 'ARRAY[' || :'past_slot' || ', 30]', NULL, NULL, NULL),
  ('arr', '''[5:6]={27,28}''::int[]', NULL, NULL, 'lower bound 5'),
  ('arr', 'ARRAY[1, 2]::bigint[]', '{42883}', NULL, NULL),
  ('arr', 'ARRAY[1.5]', '{42883}', NULL, NULL),
  ('arr', '''{1,2}''', '{42725}', NULL, NULL),
  ('arr', '''{a}''::int[]', '{22P02}', NULL, NULL),
  ('arr', '''{2147483648}''::int[]', '{22003}', NULL, NULL),
  ('arr', '''{1,2''::int[]', '{22P02}', NULL, NULL);

-- patient names
INSERT INTO v VALUES
  ('name', '''Ann Lee''', NULL, NULL, NULL),
  ('name', '''  padded  ''', NULL, NULL, NULL),
  ('name', 'NULL', NULL, '22004', NULL),
  ('name', 'NULL::text', NULL, '22004', NULL),
  ('name', '''''', NULL, '22023', 'empty'),
  ('name', '''   ''', NULL, '22023', 'blank'),
  ('name', 'E''\t\n \r\f\x0b''', NULL, '22023', 'blank (tab, newline, space, CR, FF, VT)'),
  ('name', 'repeat(''a'', 200)', NULL, NULL, NULL),
  ('name', 'repeat(''a'', 201)', NULL, '22023', '201 chars'),
  ('name', 'repeat(''é'', 200)', NULL, NULL, '200 chars, 400 bytes'),
  ('name', 'repeat(''é'', 201)', NULL, '22023', NULL),
  ('name', 'repeat(''x'', 1000000)', NULL, '22023', '1 MB'),
  ('name', :'big_literal', NULL, '22023', '1 MB literal'),
  ('name', 'E''a\x01b''', NULL, '22023', 'control'),
  ('name', 'E''a\x1fb''', NULL, '22023', 'control'),
  ('name', 'E''a\x7fb''', NULL, '22023', 'DEL'),
  ('name', 'E''a\nb''', NULL, '22023', 'newline inside'),
  ('name', 'E''\uFFFF''', NULL, NULL, 'noncharacter U+FFFF'),
  ('name', 'E''\U0010FFFF''', NULL, NULL, 'U+10FFFF'),
  ('name', 'E''a\u0085b''', NULL, '22023', 'C1 control U+0085'),
  ('name', 'E''a\u009bb''', NULL, '22023', 'C1 control U+009B (CSI)'),
  ('name', 'E''\u00a0\u00a0''', NULL, '22023', 'only no-break spaces'),
  ('name', 'E''\u3000\u2003\u200b''', NULL, '22023', 'only Unicode blanks'),
  ('name', 'E''\u202Eevil''', NULL, NULL, 'bidi override'),
  ('name', '''🦷 Zoë Ærø 李''', NULL, NULL, NULL),
  ('name', '''Robert''''); DROP TABLE medreserve.bookings; --''', NULL, NULL, 'SQL'),
  ('name', '''1; SELECT pg_sleep(10)''', NULL, NULL, 'SQL'),
  ('name', '''%s%n%x%d%%''', NULL, NULL, 'format string'),
  ('name', '''$1 $2''', NULL, NULL, NULL),
  ('name', 'E''\\''', NULL, NULL, 'backslash'),
  ('name', 'E''\uD800''', '{42601}', NULL, 'lone surrogate'),
  ('name', 'E''\uDC00x''', '{42601}', NULL, 'lone surrogate'),
  ('name', 'U&''\D800''', '{42601}', NULL, 'lone surrogate'),
  ('name', 'E''\u0000''', '{42601}', NULL, 'NUL escape'),
  ('name', 'E''\U00110000''', '{42601}', NULL, 'beyond U+10FFFF'),
  ('name', 'E''\xff''', '{22021}', NULL, 'not UTF-8'),
  ('name', 'E''a\xc3''', '{22021}', NULL, 'cut-off UTF-8'),
  ('name', 'convert_from(''\xfffe''::bytea, ''UTF8'')', '{22021}', NULL, 'not UTF-8'),
  ('name', 'chr(0)', '{54000}', NULL, 'NUL');

-- patient emails ('' = argument left out)
INSERT INTO v VALUES
  ('email', '', NULL, NULL, 'left out'),
  ('email', 'NULL', NULL, NULL, NULL),
  ('email', '''ann@example.org''', NULL, NULL, NULL),
  ('email', '''a@b.c''', NULL, NULL, NULL),
  ('email', '''ünï@cödé.org''', NULL, NULL, NULL),
  ('email', 'repeat(''l'', 64) || ''@example.org''', NULL, NULL, '64-char local part'),
  ('email', 'repeat(''l'', 65) || ''@example.org''', NULL, '22023', '65-char local part'),
  ('email', '''a@'' || repeat(''d'', 248) || ''.org''', NULL, NULL, '254 bytes'),
  ('email', '''a@'' || repeat(''d'', 249) || ''.org''', NULL, '22023', '255 bytes'),
  ('email', '''''', NULL, '22023', 'empty'),
  ('email', '''a@b''', NULL, '22023', NULL),
  ('email', '''a@@b.c''', NULL, '22023', NULL),
  ('email', '''@b.c''', NULL, '22023', NULL),
  ('email', '''a b@c.d''', NULL, '22023', NULL),
  ('email', '''a@.b''', NULL, '22023', NULL),
  ('email', '''a@b..c''', NULL, '22023', NULL),
  ('email', '''a@b.c.''', NULL, '22023', NULL),
  ('email', 'E''a\x01@b.cd''', NULL, '22023', NULL),
  ('email', 'repeat(''x'', 1000000)', NULL, '22023', '1 MB'),
  ('email', '''x@y.z''''; DROP TABLE medreserve.slots; --''', NULL, '22023', 'SQL'),
  ('email', 'E''a\u0085@b.cd''', NULL, NULL, 'C1 control U+0085'),
  ('email', 'E''\xff''', '{22021}', NULL, 'not UTF-8'),
  ('email', 'E''\uD800@b.cd''', '{42601}', NULL, 'lone surrogate');

-- booking ids: 1 CONFIRMED, 2 PENDING, 3 FAILED, 4 CANCELLED, 5 PENDING lapsed
INSERT INTO v VALUES
  ('bid', '1', NULL, NULL, NULL), ('bid', '2', NULL, NULL, NULL), ('bid', '3', NULL, NULL, NULL),
  ('bid', '4', NULL, NULL, NULL), ('bid', '5', NULL, NULL, NULL), ('bid', '''5''', NULL, NULL, NULL),
  ('bid', '0', NULL, NULL, NULL), ('bid', '-1', NULL, NULL, NULL),
  ('bid', '2147483647', NULL, NULL, NULL), ('bid', '-2147483648', NULL, NULL, NULL),
  ('bid', '999999', NULL, NULL, NULL),
  ('bid', 'NULL', NULL, '22004', NULL), ('bid', 'NULL::int', NULL, '22004', NULL),
  ('bid', '2147483648', '{42883}', NULL, NULL), ('bid', '1.0', '{42883}', NULL, NULL),
  ('bid', '''abc''', '{22P02}', NULL, NULL), ('bid', '''2147483648''', '{22003}', NULL, NULL),
  ('bid', 'ARRAY[1]', '{42883}', NULL, NULL);

-- doctor ids, times, durations, specializations
INSERT INTO v VALUES
  ('doc', '1', NULL, NULL, NULL), ('doc', '3', NULL, NULL, NULL), ('doc', '0', NULL, NULL, NULL),
  ('doc', '-1', NULL, NULL, NULL), ('doc', '2147483647', NULL, NULL, NULL),
  ('doc', 'NULL', NULL, '22004', NULL), ('doc', 'NULL::int', NULL, '22004', NULL),
  ('doc', '2147483648', '{42883}', NULL, NULL), ('doc', '''abc''', '{22P02}', NULL, NULL),
  ('span', 'now() + interval ''400 days'', now() + interval ''400 days 2 hours''', NULL, NULL, 'future'),
  ('span', 'now() + interval ''401 days'', now() + interval ''401 days''', NULL, NULL, 'one slot'),
  ('span', 'now() + interval ''402 days'', now() + interval ''401 days''', NULL, NULL, 'reversed'),
  ('span', 'now() - interval ''1 day'', now() + interval ''1 day''', NULL, NULL, 'past'),
  ('span', '''2099-01-01'', ''2099-12-31''', NULL, NULL, 'a year'),
  ('span', '''2099-01-01'', ''294276-12-31''', NULL, NULL, 'to the end of time'),
  ('span', 'NULL, now() + interval ''1 day''', NULL, '22004', NULL),
  ('span', 'now() + interval ''1 day'', NULL', NULL, '22004', NULL),
  ('span', '''epoch'', ''epoch''', NULL, NULL, 'epoch'),
  ('span', '''-infinity'', ''2099-01-01''', NULL, NULL, '-infinity'),
  ('span', '''2099-01-01'', ''infinity''', NULL, NULL, 'infinity'),
  ('span', '''infinity'', ''infinity''', NULL, NULL, 'infinity'),
  ('span', '''294276-12-31 23:50+00'', ''294276-12-31 23:55+00''', NULL, NULL, 'last minutes of time'),
  ('span', '''not a date'', ''2099-01-01''', '{22007}', NULL, NULL),
  ('span', '''2099-02-30'', ''2099-03-01''', '{22008}', NULL, NULL),
  ('dur', '', NULL, NULL, 'left out'), ('dur', '15', NULL, NULL, NULL), ('dur', '1440', NULL, NULL, NULL),
  ('dur', '0', NULL, NULL, NULL), ('dur', '-1', NULL, NULL, NULL), ('dur', '1441', NULL, NULL, NULL),
  ('dur', '2147483647', NULL, NULL, NULL), ('dur', 'NULL', NULL, '22004', NULL),
  ('spec', '', NULL, NULL, 'left out'), ('spec', 'NULL', NULL, NULL, NULL), ('spec', '''cardiology''', NULL, NULL, NULL),
  ('spec', '''''', NULL, NULL, NULL), ('spec', 'repeat(''s'', 201)', NULL, NULL, NULL),
  ('spec', 'repeat(''s'', 1000000)', NULL, NULL, NULL), ('spec', 'E''\x01''', NULL, NULL, NULL),
  ('spec', 'E''\xff''', '{22021}', NULL, NULL);

CREATE TEMP VIEW slot1 AS SELECT * FROM v WHERE fam = 'slot1';
CREATE TEMP VIEW arr AS SELECT * FROM v WHERE fam = 'arr';
CREATE TEMP VIEW name AS SELECT * FROM v WHERE fam = 'name';
CREATE TEMP VIEW email AS SELECT * FROM v WHERE fam = 'email';
-- a handful of each, for crossing with the long lists
CREATE TEMP VIEW name_few AS SELECT * FROM name WHERE expr IN ('''Ann Lee''', 'NULL::text', '''   ''', 'repeat(''x'', 1000000)', 'E''\uD800''');
CREATE TEMP VIEW email_few AS SELECT * FROM email WHERE expr IN ('', '''ann@example.org''', '''a@b''', 'E''\xff''');

-- the union of the arguments' parser codes, NULL when every argument reaches the function
CREATE FUNCTION pg_temp.pre(a text[], b text[] DEFAULT NULL, c text[] DEFAULT NULL) RETURNS text[] LANGUAGE sql AS
$$ SELECT CASE WHEN count(x) = 0 THEN NULL ELSE array_agg(DISTINCT x ORDER BY x) END
     FROM unnest(coalesce(a, '{}') || coalesce(b, '{}') || coalesce(c, '{}')) x $$;
CREATE FUNCTION pg_temp.args(VARIADIC a text[]) RETURNS text LANGUAGE sql AS
$$ SELECT string_agg(x, ', ') FROM unnest(a) x WHERE x <> '' $$;

-- the first free slot of doctor 3: a valid slot id that is (almost always) free
\set free '(SELECT min(s.id) FROM medreserve.slots s WHERE s.doctor_id = 3 AND NOT EXISTS (SELECT FROM medreserve.booking_slots bs WHERE bs.slot_id = s.id))'
\set booking_ok '{22004,22023,PT404,PT409,23505}'
\set change_ok '{22004,PT404,PT409}'

-- counters are zeroed first: the later check compares them with the calls
INSERT INTO hostile.calls (fn, sql, ok) SELECT 'medreserve_stats_reset', 'SELECT medreserve_stats_reset()', '{}' FROM generate_series(1, 3);

-- book and hold, one slot: every slot value against a few names and emails
INSERT INTO hostile.calls (fn, sql, pre, ok, expect)
SELECT f, format('SELECT medreserve_%s(%s)', f, pg_temp.args(s.expr, n.expr, e.expr)),
       pg_temp.pre(s.pre, n.pre, e.pre), :'booking_ok', coalesce(s.vcode, n.vcode, e.vcode)
  FROM unnest(ARRAY['book', 'hold']) f, slot1 s, name_few n, email_few e;

-- book and hold, slot arrays
INSERT INTO hostile.calls (fn, sql, pre, ok, expect)
SELECT f, format('SELECT medreserve_%s(%s)', f, pg_temp.args(a.expr, n.expr, e.expr)),
       pg_temp.pre(a.pre, n.pre, e.pre), :'booking_ok', coalesce(a.vcode, n.vcode, e.vcode)
  FROM unnest(ARRAY['book', 'hold']) f, arr a, name_few n, email_few e;

-- book and hold a free slot: every name against every email
INSERT INTO hostile.calls (fn, sql, pre, ok, expect)
SELECT f, format('SELECT medreserve_%s(%s)', f, pg_temp.args(:'free', n.expr, e.expr)),
       pg_temp.pre(n.pre, e.pre), :'booking_ok', coalesce(n.vcode, e.vcode)
  FROM unnest(ARRAY['book', 'hold']) f, name n, email e;

-- the same with an array of one free slot, and named arguments (where an
-- untyped NULL is not ambiguous)
INSERT INTO hostile.calls (fn, sql, pre, ok, expect)
SELECT f, format('SELECT medreserve_%s(slot_ids => ARRAY[%s], patient_name => %s%s)', f, :'free', n.expr,
                 CASE WHEN e.expr = '' THEN '' ELSE ', patient_email => ' || e.expr END),
       pg_temp.pre(n.pre, e.pre), :'booking_ok', coalesce(n.vcode, e.vcode)
  FROM unnest(ARRAY['book', 'hold']) f, name n, email_few e;
INSERT INTO hostile.calls (fn, sql, pre, ok, expect)
SELECT f, format('SELECT medreserve_%s(patient_name => %s, slot_id => %s)', f, n.expr, s.expr),
       pg_temp.pre(CASE WHEN s.expr = 'NULL' THEN NULL ELSE s.pre END, n.pre), :'booking_ok',
       coalesce(CASE WHEN s.expr = 'NULL' THEN '22004' ELSE s.vcode END, n.vcode)
  FROM unnest(ARRAY['book', 'hold']) f, slot1 s, name_few n
 WHERE s.expr NOT IN ('''abc''');
INSERT INTO hostile.calls (fn, sql, pre, ok, expect)
SELECT f, format('SELECT medreserve_%s(slot_ids => %s, patient_name => %s)', f,
                 CASE a.expr WHEN '''{1,2}''' THEN '''{1,2}''' ELSE a.expr END, n.expr),
       pg_temp.pre(CASE WHEN a.expr = '''{1,2}''' THEN NULL ELSE a.pre END, n.pre), :'booking_ok',
       coalesce(a.vcode, n.vcode)
  FROM unnest(ARRAY['book', 'hold']) f, arr a, name_few n;

-- confirm and cancel, three times over, so states change in between
INSERT INTO hostile.calls (fn, sql, pre, ok, expect)
SELECT f, format('SELECT medreserve_%s(%s)', f, b.expr), b.pre, :'change_ok', b.vcode
  FROM generate_series(1, 3) r, unnest(ARRAY['confirm', 'cancel']) f, v b WHERE b.fam = 'bid'
 ORDER BY r, f, b.expr;
-- and confirm/cancel what the hostile calls booked (ids 6 .. 400)
INSERT INTO hostile.calls (fn, sql, ok)
SELECT f, format('SELECT medreserve_%s(%s)', f, i), :'change_ok'
  FROM generate_series(6, 400, 3) i, unnest(ARRAY['confirm', 'cancel', 'confirm']) f;

INSERT INTO hostile.calls (fn, sql, ok) SELECT 'medreserve_expire', 'SELECT medreserve_expire()', '{}' FROM generate_series(1, 10);

-- schedules and availability
INSERT INTO hostile.calls (fn, sql, pre, ok, expect)
SELECT 'add_doctor', format('SELECT medreserve_add_doctor(%s)', pg_temp.args(n.expr, s.expr)),
       pg_temp.pre(n.pre, s.pre), '{22004,22023}', NULL
  FROM name n, v s WHERE s.fam = 'spec';
INSERT INTO hostile.calls (fn, sql, pre, ok, expect)
SELECT 'add_slots', format('SELECT count(*) FROM medreserve_add_slots(%s)', pg_temp.args(d.expr, t.expr, u.expr)),
       pg_temp.pre(d.pre, t.pre, u.pre), '{22004,22023,PT404,23P01}',
       CASE WHEN coalesce(d.vcode, t.vcode, u.vcode) IS NOT NULL THEN '22004' END
  FROM v d, v t, v u WHERE d.fam = 'doc' AND t.fam = 'span' AND u.fam = 'dur';
INSERT INTO hostile.calls (fn, sql, pre, ok, expect)
SELECT 'available_slots', format('SELECT count(*) FROM medreserve_available_slots(%s)', pg_temp.args(d.expr, t.expr)),
       pg_temp.pre(d.pre, t.pre), '{22004,PT404}', CASE WHEN d.vcode IS NOT NULL OR t.vcode IS NOT NULL THEN '22004' END
  FROM v d, v t WHERE d.fam = 'doc' AND t.fam IN ('span');
INSERT INTO hostile.calls (fn, sql, pre, ok, expect)
SELECT 'available_slots', format('SELECT count(*) FROM medreserve_available_slots(%s)', d.expr),
       d.pre, '{22004,PT404}', d.vcode
  FROM v d WHERE d.fam = 'doc';
INSERT INTO hostile.calls (fn, sql, pre, ok)
SELECT 'list_doctors', format('SELECT count(*) FROM medreserve_list_doctors(%s)', n.expr), n.pre, '{}'
  FROM name n;

-- operations
INSERT INTO hostile.calls (fn, sql, ok)
SELECT f, 'SELECT ' || f, '{}'
  FROM generate_series(1, 5), unnest(ARRAY['medreserve_stats()', 'medreserve_counters()', 'medreserve_health()']) f;
INSERT INTO hostile.calls (fn, sql, ok)
SELECT 'schedule_expiry', format('SELECT medreserve_schedule_expiry(%s)', s.expr), '{55000}'
  FROM (VALUES (''), ('NULL'), ('''* * * * *'''), ('''30 seconds'''), ('''garbage'''), ('repeat(''*'', 1000000)'),
               ('E''\x01'''), ('''0 0 31 2 *''')) s(expr);
INSERT INTO hostile.calls (fn, sql, ok) SELECT 'unschedule_expiry', 'SELECT medreserve_unschedule_expiry()', '{55000}' FROM generate_series(1, 3);
INSERT INTO hostile.calls (fn, sql, ok) SELECT 'my_bookings', 'SELECT count(*) FROM medreserve_my_bookings()', '{42501}' FROM generate_series(1, 3);

-- settings (each put back right after)
INSERT INTO hostile.calls (fn, sql, after_sql, ok)
SELECT 'SET ' || g, format('SET %s = %s', g, x), 'RESET ' || g, '{22023}'
  FROM unnest(ARRAY['medreserve.hold_duration', 'medreserve.expire_batch_size', 'medreserve.health_overdue_threshold']) g,
       unnest(ARRAY['0', '-1', '1', '''1s''', '''7d''', '''8d''', '604801', '1000001', '''2147483648''', '''abc''',
                    '''1e100''', '''''', '''-1 min''', '''1 fortnight''']) x;
INSERT INTO hostile.calls (fn, sql, after_sql, ok)
VALUES ('SET medreserve.*', 'SET medreserve.hold_duraton = ''5min''', NULL, '{42602}'),
       ('SET medreserve.*', 'SET medreserve.x = 1', NULL, '{42602}'),
       ('SET medreserve.*', 'SELECT set_config(''medreserve.nope'', ''1'', false)', NULL, '{42602}');

-- a patient (medreserve_patient) with every kind of email claim; a patient
-- cannot read booking_slots, so each booking call gets a slot of its own
-- among doctor 2's ids 41 .. 140
INSERT INTO hostile.calls (fn, role_sql, sql, ok)
SELECT 'patient ' || f,
       format('SET ROLE hostile_patient; SET request.jwt.claims = %L', c),
       -- PT429: these calls are one patient's, so the fair-use limits (issue 14) apply
       format(sql, 40 + row_number() OVER ()), '{22004,22023,PT404,PT409,23505,42501,PT429}'
       -- a claim that is not JSON at all: PostgreSQL's json input error (see t/080_hostile.pl)
       || CASE WHEN c LIKE 'garbage%' THEN '{22P02}'::text[] ELSE '{}' END
  FROM unnest(ARRAY['', 'garbage', 'garbage{', '[]', '"just a string"', '{}', '{"email": null}', '{"email": ""}',
                    '{"email": "ann@example.org"}', '{"email": "ANN@EXAMPLE.ORG"}', '{"email": "bob@example.org"}',
                    '{"email": "not an email"}', '{"email": 42}', '{"email": ["ann@example.org"]}',
                    '{"email": "' || repeat('x', 100000) || '@example.org"}', '{"email": "ann@example.org", "role": "postgres"}']) c,
       (VALUES ('book', 'SELECT medreserve_book(%s, ''Patient P'')'),
               ('book other', 'SELECT medreserve_book(%s, ''Patient P'', ''carl@example.org'')'),
               ('hold', 'SELECT medreserve_hold(ARRAY[%s], ''Patient P'', ''ann@example.org'')'),
               ('confirm', 'SELECT medreserve_confirm(2)'),
               ('cancel', 'SELECT medreserve_cancel(1)'),
               ('cancel own', 'SELECT medreserve_cancel((SELECT max(id) FROM medreserve.bookings))'),
               ('my_bookings', 'SELECT count(*) FROM medreserve_my_bookings()'),
               ('stats', 'SELECT medreserve_stats()')) t(f, sql);
