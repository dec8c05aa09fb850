from billing_lib.cli import main

raise SystemExit(main())
