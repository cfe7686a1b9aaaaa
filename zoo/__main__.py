from zoo.cli.main import main

main()
