--! Previous: sha1:a0e287443d00410169f699cf64e9c5ef6d073628
--! Hash: sha1:f381e88277c49e1d720b83f2d2a478fca13aa57d
--! Message: The doctor's schedule is never JIT-compiled

-- A doctor's schedule is planned from set-returning functions whose row counts Postgres cannot
-- know (generate_series over the days and the slots, the weekday ranges): it guesses 1,000 rows
-- each, the plan's estimated cost runs into the billions, and a server built with JIT (jit = on
-- is Postgres's default; Debian's and most packaged servers ship LLVM) compiles the query on
-- every call: about 650 ms of compiling to read some 30 slots in under 2 ms, on every booking
-- (the trigger reads the schedule) and every free-slots look-up. Realistic row counts fix the
-- guesses; `jit = off` on the function makes the plan's cost irrelevant wherever it is called.
alter function app_private.weekday_ranges(jsonb, text) rows 3;
alter function app_private.doctor_schedule(uuid, uuid, date, date) rows 40 set jit = off;
