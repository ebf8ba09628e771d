# swstat — build, test, install. `make run` and `make test` also install the Debian packages
# swstat needs (when run as root), so a fresh machine needs nothing else.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
SWIFT   ?= swift
# Release builds link the Swift runtime statically: start-up is most of a small listing.
RELEASE_FLAGS = -c release --static-swift-stdlib
# What running swstat needs (`make run`), and what only the tests need on top (`make test`):
# net-tools (netstat) and iproute2 (ss, ip netns) for parity tests in namespaces, tmux for the
# dashboard in a real terminal, procps (pgrep), man-db (the manual's lint test), util-linux
# (setpriv, prlimit, script), python3-jsonschema and jq for the NDJSON tests, prometheus
# (promtool, a real server) and python3-prometheus-client (a strict OpenMetrics parser) for
# the exporter's.
RUN_PACKAGES  = libmnl-dev pkg-config
TEST_PACKAGES = net-tools iproute2 python3 python3-jsonschema jq tmux procps man-db util-linux \
                bsdutils prometheus python3-prometheus-client
MAN_CHECK = LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings --encoding=UTF-8 \
            --local-file --troff-device=utf8 --ditroff

.PHONY: all deps test-deps build run test lint bench install uninstall clean fuzz fuzz-smoke sanitize

all: build

# Installs the missing Debian packages with apt-get when root; otherwise names them.
define install_missing
	@missing=""; for p in $(1); do \
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
endef

deps:
	$(call install_missing,$(RUN_PACKAGES))

test-deps: deps
	$(call install_missing,$(TEST_PACKAGES))

build: deps
	$(SWIFT) build $(RELEASE_FLAGS) --product swstat
	$(SWIFT) build $(RELEASE_FLAGS) --product swstat-export

run: build
	"$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/swstat" -tanp

# The release binaries first: `make run` and `make install` build them, and only a release
# build links the static Swift runtime; the tests then run those very binaries
# (SWSTAT_BINARY, SWSTAT_EXPORT_BINARY), not the debug ones built beside the tests.
# The tests block their threads (they run processes and wait for sockets), and Swift Testing
# runs them on the cooperative pool, one thread a core; it admits twice as many test cases as
# cores, though, and a test's time limit runs from its admission: one admitted behind two long
# ones waited minutes for a thread and failed its limit. As many at once as there are threads.
# The soak (memoryStaysFlat) runs alone afterwards: the tracepoint sees every namespace, and
# the other tests' bursts (40,000 connections a second) would be measured as its memory.
test: test-deps build fuzz-smoke
	bin="$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)"; \
	export SWSTAT_BINARY="$$bin/swstat" SWSTAT_EXPORT_BINARY="$$bin/swstat-export" \
	  SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="$$(nproc)"; \
	$(SWIFT) test --skip memoryStaysFlat && $(SWIFT) test --skip-build --filter memoryStaysFlat

lint:
	$(SWIFT) format lint --strict -r Sources Tests Package.swift
	clang -fsyntax-only -Wall -Wextra -Werror -D_GNU_SOURCE -ISources/CSwstat/include Sources/CSwstat/*.c
	@o=$$($(MAN_CHECK) man/swstat.8 2>&1 >/dev/null); test -z "$$o" || { echo "$$o"; exit 1; }

# Fuzzing (issue 6): libFuzzer harnesses in Tests/Fuzz/ for the sock_diag decoders (inet and
# unix_diag, one harness: they share nl_dump.c's message walk), the /proc/net
# scanner, the bytecode compiler (C, built with the shim's own .c files) and SwstatCore's
# argument parsers (Swift, built by swiftc from the pure-Swift files they need). The toolchain's
# clang and swiftc both have -fsanitize=fuzzer. `make fuzz` runs each target FUZZ_SECONDS,
# `make fuzz-smoke` (part of `make test`) FUZZ_SMOKE_SECONDS; both first replay every seed and
# `regress-*` input in Tests/Fuzz/corpus/<target>, which they only read: new inputs go to
# $(FUZZ_BUILD)/corpus/<target>, a crash to $(FUZZ_BUILD)/crash-<target>-*, each run's output
# to $(FUZZ_BUILD)/<target>.log. FUZZ_FLAGS: more libFuzzer flags (-runs=N, -jobs=N, ...).
FUZZ_SECONDS       ?= 300
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_BUILD         ?= .build-fuzz
FUZZ_FLAGS         ?=
TOOLCHAIN_BIN      := $(dir $(realpath $(shell command -v $(SWIFT))))
FUZZ_CC            ?= $(TOOLCHAIN_BIN)clang
FUZZ_SWIFTC        ?= $(TOOLCHAIN_BIN)swiftc
FUZZ_TARGETS        = diag_parse proc_parse filter_build swift_parsers trace_parse
FUZZ_BINS           = $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ_TARGETS))
# lld: gold warns about every ASan helper symbol.
FUZZ_CFLAGS = -g -O1 -D_GNU_SOURCE -ISources/CSwstat/include -Wall -Wextra -Werror -fuse-ld=lld \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_SWIFT_SOURCES = $(addprefix Sources/SwstatCore/,Expectation.swift StateCounts.swift \
                     SocketQuery.swift SocketFilter.swift SocketFilter+Parsing.swift \
                     SocketState.swift SocketRecord.swift UnixSocketRecord.swift \
                     UnixProcText.swift VisibleText.swift FilterExpression.swift \
                     FilterExpression+Parsing.swift FilterExpression+Text.swift \
                     FilterExpression+Bytecode.swift FilterEnvironment.swift \
                     CgroupPaths.swift SocketExtras.swift TCPInfo.swift) \
                     Tests/Fuzz/FuzzParsers.swift

# The decoder harness places its input against a guard page at any offset, so struct reads may
# be unaligned there (never in a real receive buffer, which is 8-byte aligned).
$(FUZZ_BUILD)/fuzz_diag_parse: Tests/Fuzz/fuzz_diag_parse.c Sources/CSwstat/sock_diag.c \
                               Sources/CSwstat/unix_diag.c \
                               Sources/CSwstat/nl_dump.c Sources/CSwstat/nl_dump.h \
                               Sources/CSwstat/include/CSwstat.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fno-sanitize=alignment -o $@ $(filter %.c,$^) -lmnl
$(FUZZ_BUILD)/fuzz_proc_parse: Tests/Fuzz/fuzz_proc_parse.c Sources/CSwstat/proc_net.c \
                               Sources/CSwstat/include/CSwstat.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)
$(FUZZ_BUILD)/fuzz_filter_build: Tests/Fuzz/fuzz_filter_build.c Sources/CSwstat/diag_filter.c \
                                 Sources/CSwstat/include/CSwstat.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)
$(FUZZ_BUILD)/fuzz_trace_parse: Tests/Fuzz/fuzz_trace_parse.c Sources/CSwstat/transitions.c \
                                Sources/CSwstat/include/CSwstat.h \
                                Sources/CSwstat/include/swstat_trace.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) -lpthread
$(FUZZ_BUILD)/fuzz_swift_parsers: $(FUZZ_SWIFT_SOURCES)
	@mkdir -p $(@D)
	$(FUZZ_SWIFTC) -sanitize=fuzzer,address -parse-as-library -O -g -use-ld=lld \
	  -module-name SwstatFuzz -o $@ $(FUZZ_SWIFT_SOURCES)

# Runs every target for $(1) seconds; prints libFuzzer's run count per target, or the log's
# end and the crash file when one fails. The Swift runtime's backtracer is off: under ASan it
# reads memory ASan reports, hiding the real failure.
fuzz_all = for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  if SWIFT_BACKTRACE=enable=no $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(1) -timeout=10 -print_final_stats=1 \
	      -artifact_prefix=$(FUZZ_BUILD)/crash-$$t- $(FUZZ_FLAGS) \
	      $(FUZZ_BUILD)/corpus/$$t Tests/Fuzz/corpus/$$t > $(FUZZ_BUILD)/$$t.log 2>&1; then \
	    echo "fuzz $$t: $$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_BUILD)/$$t.log) runs, no crash"; \
	  else \
	    tail -40 $(FUZZ_BUILD)/$$t.log; echo "fuzz $$t: FAILED (log: $(FUZZ_BUILD)/$$t.log)"; exit 1; \
	  fi; \
	done

fuzz: deps $(FUZZ_BINS)
	@$(call fuzz_all,$(FUZZ_SECONDS))

fuzz-smoke: deps $(FUZZ_BINS)
	@$(call fuzz_all,$(FUZZ_SMOKE_SECONDS))

# The whole suite under ASan+UBSan, then the threaded -p owner scan under TSan, each in a
# scratch folder of its own. swiftc has no -sanitize=undefined on Linux (Swift code traps on
# overflow and bad casts by itself), so UBSan goes to the C shim through clang, and its
# runtime comes with ASan's. Tests/lsan.supp says why each leak report it hides is not ours.
# One test at a time: sanitized binaries run several times slower, and on two cores the tests
# queued behind the running ones would reach their time limits.
# SWSTAT_SANITIZER tells the memory-bound tests to stand aside: ASan's quarantine keeps freed
# memory resident, so RSS measures ASan there, not swstat.
SAN_ENV = LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp:print_suppressions=0 \
          UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 SWSTAT_SANITIZER=address
sanitize: test-deps
	$(SAN_ENV) $(SWIFT) test --no-parallel --sanitize=address -Xcc -fsanitize=undefined \
	  -Xcc -fno-sanitize-recover=undefined --scratch-path .build-san
	TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test --no-parallel --sanitize=thread \
	  --scratch-path .build-tsan \
	  --filter 'LiveSocketTests|OwnerScanThreadTests|ParityTests|NonRootTests|ownersUnderProcessChurn'

# Benchmark (issues 8, 12 and 13): creates loopback socket loads (127.0.0.x and ::1 only) and
# times swstat against ss, netstat and the bare sock_diag, /proc and tracepoint floors, round
# by round; then swstat --events from the tracepoint beside the trace floor on the idle load and
# under 2,000 connections/s of its own loopback churn (the rate achieved is measured); prints
# the table and writes JSON, and exits 2 when a target is missed or a floor and swstat count
# different sockets. BENCH_SIZES: socket totals, comma-separated; BENCH_RUNS: rounds per
# comparison; BENCH_GROUPS: only these groups, comma-separated (e.g. "events idle,events
# churn"; `swstat-bench --help` lists them); BENCH_JSON: results file (bench-results/ is
# git-ignored); BENCH_FLAGS: more swstat-bench options. Takes several minutes at 100k, and a
# minute more between sizes after the churn (its TIME_WAIT sockets expire first).
# `make bench-check` (run first by `make bench`): a few seconds that say whether the benchmark
# can be believed — the target logic (a miss fails the run, a churn under its rate is no
# measurement), each floor counting what its swstat command counts on a load with
# BOUND_INACTIVE sockets, a real round failing an impossible target, the churn group's
# commands run once under 200 connections/s.
BENCH_SIZES  ?= 1000,10000,100000
BENCH_RUNS   ?= 15
BENCH_GROUPS ?=
BENCH_JSON   ?= bench-results/latest.json
BENCH_FLAGS  ?=

# The floors are plain C built with cc, as small and quick to start as a floor should be (built
# by SwiftPM they would carry the Swift runtime): Sources/<name>/*.c each.
BENCH_BIN    = .build/bench-floors
BENCH_FLOORS = swstat-diagdump swstat-procparse swstat-tracefloor
BENCH_RUN    = bin="$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)"; \
	"$$bin/swstat-bench" --swstat "$$bin/swstat" --helpers $(BENCH_BIN)
.PHONY: bench-build bench-check
bench-build: test-deps
	for p in swstat swstat-bench; do $(SWIFT) build $(RELEASE_FLAGS) --product $$p || exit 1; done
	mkdir -p $(BENCH_BIN)
	for f in $(BENCH_FLOORS); do \
	  $(CC) -O2 -Wall -Wextra -Werror -o $(BENCH_BIN)/$$f Sources/$$f/*.c || exit 1; \
	done

bench-check: bench-build
	$(BENCH_RUN) --check

bench: bench-check
	$(BENCH_RUN) --sizes $(BENCH_SIZES) --runs $(BENCH_RUNS) --json $(BENCH_JSON) \
	  $(if $(BENCH_GROUPS),--groups "$(BENCH_GROUPS)") $(BENCH_FLAGS)

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
	rm -rf .build .build-fuzz .build-san .build-tsan .build-install

# Sources/swstat/hot-text.order: the functions common runs of the release binary use, sampled
# with perf (callers included) on loopback tables of 1k and 20k sockets in a namespace of its
# own, so that the linker places them together (Package.swift explains why). Regenerate after
# large changes to the listing path; a stale list only costs resident memory, which `make bench`
# checks. Needs root and perf (linux-perf).
HOT_ORDER = Sources/swstat/hot-text.order
.PHONY: hot-order
hot-order: build
	command -v perf >/dev/null || apt-get install -y linux-perf
	bin="$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/swstat"; \
	ns=swstat-hot-$$$$; tmp=$$(mktemp -d); \
	ip netns add $$ns && ip -n $$ns link set lo up || exit 1; \
	for pairs in 500 500 10000; do \
	  ip netns exec $$ns python3 Tests/swstatTests/Fixtures/bigtable.py --pairs $$pairs --hold 120 \
	    > $$tmp/holder 2>&1 & holder=$$!; \
	  for i in $$(seq 1 100); do grep -q ready $$tmp/holder && break; sleep 0.2; done; \
	  for args in -tan "-t --count" "-tan --json" "-tn --info --json" "-tn --info --memory" \
	      -tanp -tln -tun -an "-tan --source proc" "--count-by state" "-q -t" -s; do \
	    n=$$((n + 1)); \
	    ip netns exec $$ns perf record -q -e cycles:u -c 4000 --call-graph dwarf,16384 \
	      -o $$tmp/perf.$$n "$$bin" $$args > /dev/null 2>&1; \
	  done; \
	  kill $$holder; wait $$holder 2>/dev/null; \
	done; \
	ip netns delete $$ns; \
	for f in $$tmp/perf.*; do perf script --no-demangle -i $$f -F ip,sym,dso 2>/dev/null; done \
	  | awk '$$NF ~ /\/swstat\)$$/ { sub(/\+0x[0-9a-f]+$$/, "", $$2); print $$2 }' \
	  | sort | uniq -c | sort -rn | awk '{ print ".text." $$2 }' > $(HOT_ORDER); \
	rm -rf $$tmp; \
	rm -f "$$bin"; $(SWIFT) build $(RELEASE_FLAGS) --product swstat; \
	wc -l $(HOT_ORDER)
