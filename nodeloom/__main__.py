from nodeloom.cli import main

raise SystemExit(main())
