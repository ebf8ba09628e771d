# swstat — build, test, install. `make run` and `make test` also install the Debian packages
# swstat needs (when run as root), so a fresh machine needs nothing else.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
SWIFT   ?= swift
# Release builds link the Swift runtime statically: start-up is most of a small listing.
RELEASE_FLAGS = -c release --static-swift-stdlib
# prometheus (promtool, a real server) and python3-prometheus-client (a strict OpenMetrics
# parser) are for the exporter's tests only.
DEB_PACKAGES  = libmnl-dev pkg-config net-tools iproute2 python3 python3-jsonschema jq \
                prometheus python3-prometheus-client
MAN_CHECK = LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings --encoding=UTF-8 \
            --local-file --troff-device=utf8 --ditroff

.PHONY: all deps build run test lint bench install uninstall clean

all: build

# Installs the missing Debian packages with apt-get when root; otherwise names them.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "swstat needs:$$missing — run 'sudo apt-get install$$missing' or 'sudo make deps'" >&2; exit 1; \
	  fi; \
	fi

build: deps
	$(SWIFT) build $(RELEASE_FLAGS) --product swstat
	$(SWIFT) build $(RELEASE_FLAGS) --product swstat-export

run: build
	"$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/swstat" -tanp

test: deps
	$(SWIFT) test

lint:
	$(SWIFT) format lint --strict -r Sources Tests Package.swift
	clang -fsyntax-only -Wall -Wextra -Werror -D_GNU_SOURCE -ISources/CSwstat/include Sources/CSwstat/*.c
	@o=$$($(MAN_CHECK) man/swstat.8 2>&1 >/dev/null); test -z "$$o" || { echo "$$o"; exit 1; }

# Benchmark (issue 8): creates loopback socket loads (127.0.0.x and ::1 only) and times swstat
# against ss, netstat and the bare sock_diag and /proc floors, round by round; prints the table
# and writes JSON. BENCH_SIZES: socket totals, comma-separated; BENCH_RUNS: rounds per
# comparison; BENCH_JSON: results file (bench-results/ is git-ignored); BENCH_FLAGS: more
# swstat-bench options (see `swstat-bench --help`). Takes a few minutes at 100k.
BENCH_SIZES ?= 1000,10000,100000
BENCH_RUNS  ?= 15
BENCH_JSON  ?= bench-results/latest.json
BENCH_FLAGS ?=

# The two floors are plain C built with cc, as small and quick to start as a floor should be
# (built by SwiftPM they would carry the Swift runtime).
BENCH_BIN = .build/bench-floors
bench: deps
	for p in swstat swstat-bench; do $(SWIFT) build $(RELEASE_FLAGS) --product $$p || exit 1; done
	mkdir -p $(BENCH_BIN)
	$(CC) -O2 -Wall -o $(BENCH_BIN)/swstat-diagdump Sources/swstat-diagdump/diagdump.c
	$(CC) -O2 -Wall -o $(BENCH_BIN)/swstat-procparse Sources/swstat-procparse/procparse.c
	bin="$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)"; \
	"$$bin/swstat-bench" --swstat "$$bin/swstat" --helpers $(BENCH_BIN) --sizes $(BENCH_SIZES) \
	  --runs $(BENCH_RUNS) --json $(BENCH_JSON) $(BENCH_FLAGS)

# Shell completions, generated from the argument parser's own definition of the flags.
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d

install: build
	bin="$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/swstat"; \
	install -D -m 0755 "$$bin" "$(DESTDIR)$(BINDIR)/swstat" && \
	install -D -m 0755 "$$bin-export" "$(DESTDIR)$(BINDIR)/swstat-export" && \
	install -d "$(DESTDIR)$(BASHCOMPDIR)" "$(DESTDIR)$(ZSHCOMPDIR)" "$(DESTDIR)$(FISHCOMPDIR)" && \
	"$$bin" --generate-completion-script bash > "$(DESTDIR)$(BASHCOMPDIR)/swstat" && \
	"$$bin" --generate-completion-script zsh > "$(DESTDIR)$(ZSHCOMPDIR)/_swstat" && \
	"$$bin" --generate-completion-script fish > "$(DESTDIR)$(FISHCOMPDIR)/swstat.fish"
	install -D -m 0644 man/swstat.8 "$(DESTDIR)$(MANDIR)/man8/swstat.8"

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/swstat" "$(DESTDIR)$(BINDIR)/swstat-export" \
	  "$(DESTDIR)$(MANDIR)/man8/swstat.8" \
	  "$(DESTDIR)$(BASHCOMPDIR)/swstat" "$(DESTDIR)$(ZSHCOMPDIR)/_swstat" \
	  "$(DESTDIR)$(FISHCOMPDIR)/swstat.fish"

clean:
	rm -rf .build
