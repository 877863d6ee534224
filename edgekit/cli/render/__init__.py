"""Human output of the commands: rich tables and lines on a console.

The library builds reports as data (dicts, JSON, JUnit XML, markdown); only this package
turns them into what a person reads on a terminal."""
