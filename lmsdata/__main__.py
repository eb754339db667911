from lmsdata.cli import main

main()
