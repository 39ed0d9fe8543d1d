"""The benchmark: `make bench` / `make bench-quick`. See bench/README.md."""
