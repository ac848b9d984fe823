# Web-search flow sizes (DCTCP paper), as published with the HPCC simulator:
# alibaba-edu/High-Precision-Congestion-Control, traffic_gen/WebSearch_distribution.txt.
# Lines: BYTES CUMULATIVE_PERCENT. Copied from ../shared/data/flowsize so the main job
# runs on a fresh checkout.
0 0
10000 15
20000 20
30000 30
50000 40
80000 53
200000 60
1000000 70
2000000 80
5000000 90
10000000 97
30000000 100
