"""Pure scheduler modules: build argv / script text and parse output. No I/O imports here."""
