# kbus — see README.md. Every target that needs Kafka or PostgreSQL starts them
# first with the project's own scripts (nothing happens when they already answer).

GO          ?= go
STATICCHECK ?= $(GO) tool -modfile=tools/go.mod staticcheck
export KAFKA_BROKERS ?= 127.0.0.1:9092
export DATABASE_URL  ?= postgres://postgres@127.0.0.1:5432/kbus?sslmode=disable

.PHONY: test demo bench soak soak-short fuzz tidy-check services services-postgres services-down lint vet fmt-check schemas-check

## test: start Kafka and PostgreSQL if needed, then vet, staticcheck and the race-enabled tests,
## then the browser tests of the integration/ module (Debian's chromium is installed if missing)
## and the testcontainers module kbustest/containers (its container test skips without a Docker engine)
test: services fmt-check tidy-check vet lint schemas-check
	KBUS_REQUIRE_SERVICES=1 $(GO) test -race -count=1 -timeout 20m ./...
	bash scripts/chromium.sh
	cd integration && $(GO) vet ./... && KBUS_REQUIRE_SERVICES=1 $(GO) test -count=1 -timeout 10m ./...
	cd kbustest/containers && $(GO) vet ./... && $(GO) tool -modfile=$(CURDIR)/tools/go.mod staticcheck ./... && KBUS_REQUIRE_SERVICES=1 $(GO) test -race -count=1 -timeout 10m ./...

## demo: start Kafka and PostgreSQL if needed, build the example services and play the
## end-to-end scenario (examples/demo); it exits non-zero unless every figure matches.
## KBUS_EMBEDDED=1 runs kfake in-process instead of Kafka (only PostgreSQL is started);
## DEMO_FLAGS passes flags, e.g. DEMO_FLAGS=-hold keeps the services up for the dashboard.
DEMO_BIN ?= .demo/bin
demo: $(if $(filter 1,$(KBUS_EMBEDDED)),services-postgres,services)
	$(GO) build -o $(DEMO_BIN)/ ./cmd/kbus ./examples/payments ./examples/order-service ./examples/merchant ./examples/demo
	$(DEMO_BIN)/demo -bin $(DEMO_BIN) $(DEMO_FLAGS)

## bench: run the benchmarks against the real broker and write BENCHMARKS.md
bench: services
	bash scripts/bench.sh

## soak: the fault-injection soak, long form (cmd/kbus-soak, about 10 minutes): 50,000 + 5,000 events on a
## three-node cluster while kbus processes, the partition leader and PostgreSQL are killed; it fails on
## any loss or doubled effect, and writes its figures into RELIABILITY.md. Then every fuzz target for
## SOAK_FUZZTIME. SOAK_FLAGS passes flags to cmd/kbus-soak.
SOAK_FUZZTIME ?= 60s
soak:
	SOAK_MARKDOWN=RELIABILITY.md bash scripts/soak.sh $(SOAK_FLAGS)
	FUZZTIME=$(SOAK_FUZZTIME) bash scripts/fuzz.sh

## soak-short: CI's form of the soak (3,500 events over 60 s, one fault of each kind)
soak-short:
	bash scripts/soak.sh -short $(SOAK_FLAGS)

## fuzz: every fuzz target, each for FUZZTIME (CI: 5s)
FUZZTIME ?= 5s
fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

## services: start a real Kafka broker and PostgreSQL unless they already answer
services:
	bash scripts/kafka.sh up
	bash scripts/postgres.sh up

## services-postgres: start only PostgreSQL unless it already answers (KBUS_EMBEDDED=1 demos)
services-postgres:
	bash scripts/postgres.sh up

## services-down: stop the broker and database the scripts started
services-down:
	bash scripts/kafka.sh down
	bash scripts/postgres.sh down

## schemas-check: the shipped event schemas are backward compatible, version to version
schemas-check:
	$(GO) run ./cmd/kbus schemas check

## tidy-check: go.mod and go.sum of the three modules (root, integration/, kbustest/containers/)
## are tidy; the two submodules build kbus from this tree, so a new dependency of kbus must be
## tidied into them too (go mod tidy in each)
tidy-check:
	$(GO) mod tidy -diff
	cd integration && $(GO) mod tidy -diff
	cd kbustest/containers && $(GO) mod tidy -diff

fmt-check:
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint:
	$(STATICCHECK) ./...
