from foundry.cli.main import main

main()
