SELECT count(*) FROM medreserve_find_slots('cardiology', max_results => 20);
