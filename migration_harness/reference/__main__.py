from migration_harness.reference.cli import main

raise SystemExit(main())
