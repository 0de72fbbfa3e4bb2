// Package integration holds kbus's end-to-end tests that need more than the
// main module does: a real browser (headless Chromium, driven by chromedp),
// the kbus binary as a child process, Kafka and PostgreSQL. It is a module of
// its own so that chromedp stays out of kbus's dependencies.
//
//	bash scripts/chromium.sh   # installs Debian's chromium when /usr/bin/chromium is missing
//	cd integration && KBUS_REQUIRE_SERVICES=1 go test -count=1 ./...
//
// Without Chromium (or Kafka, or PostgreSQL) the tests skip, unless
// KBUS_REQUIRE_SERVICES=1, which `make test` sets: then they fail. Set
// KBUS_CHROMIUM to use a browser other than /usr/bin/chromium.
package integration
