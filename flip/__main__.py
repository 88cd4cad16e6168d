from flip.cli import main

raise SystemExit(main())
