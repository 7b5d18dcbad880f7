#!/bin/sh
# ippeveprinter -c command: $1 = spool file; env IPP_* = the job's attributes.
# Reports two impressions per job and, like a printer running low on ink,
# changes the marker levels and raises a supply warning (a state reason).
echo "INFO: simulating $1 (user=$IPP_JOB_ORIGINATING_USER_NAME acct=$IPP_JOB_ACCOUNT_ID)" >&2
echo "ATTR: job-impressions=2" >&2
echo "ATTR: job-impressions-completed=2" >&2
echo "ATTR: marker-names=Matte-Black,Cyan,Magenta,Yellow marker-colors=#000000,#00FFFF,#FF00FF,#FFFF00 marker-levels=80,55,40,9 marker-low-levels=10,10,10,10 marker-high-levels=100,100,100,100 marker-types=ink-cartridge,ink-cartridge,ink-cartridge,ink-cartridge" >&2
echo "STATE: +marker-supply-low-warning" >&2
exit 0
