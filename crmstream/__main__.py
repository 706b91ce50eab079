from crmstream.cli import main

main()
