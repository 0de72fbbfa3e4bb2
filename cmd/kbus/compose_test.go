package main

// The checks on docker-compose.yml. Docker is not needed: the file is parsed
// and held against what this package's CLI accepts today and against the
// apache/kafka image's documented configuration convention, so that a
// renamed flag or a misspelt broker property fails `go test` rather than
// `docker compose up` on someone else's machine.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// composeService is one service of a compose file, in the one form the checks
// read whichever of compose's equivalent spellings the file uses.
type composeService struct {
	name        string
	image       string
	build       string            // the build context; "" when the service has no build
	dockerfile  string            // relative to the context; compose's default is Dockerfile
	command     []string          // the arguments after the image's entrypoint
	env         map[string]string // KEY: value
	ports       []string          // as written: [host_ip:]host_port:container_port
	dependsOn   map[string]string // service: condition
	healthcheck []string          // its test; nil without one
	restart     string
}

type composeFile struct {
	dir      string // where the file is: build contexts are relative to it
	services map[string]*composeService
}

// rawService mirrors the YAML; fields with several spellings stay nodes.
type rawService struct {
	Image       string    `yaml:"image"`
	Build       yaml.Node `yaml:"build"`
	Command     yaml.Node `yaml:"command"`
	Environment yaml.Node `yaml:"environment"`
	Ports       []string  `yaml:"ports"`
	DependsOn   yaml.Node `yaml:"depends_on"`
	Healthcheck *struct {
		Test    yaml.Node `yaml:"test"`
		Disable bool      `yaml:"disable"`
	} `yaml:"healthcheck"`
	Restart string `yaml:"restart"`
}

func loadCompose(path string) (*composeFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw struct {
		Services map[string]rawService `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := &composeFile{dir: filepath.Dir(path), services: map[string]*composeService{}}
	for name, r := range raw.Services {
		s := &composeService{name: name, image: r.Image, ports: r.Ports, restart: r.Restart,
			env: map[string]string{}, dependsOn: map[string]string{}, dockerfile: "Dockerfile"}
		var errs []error
		switch r.Build.Kind {
		case 0:
		case yaml.ScalarNode:
			s.build = r.Build.Value
		case yaml.MappingNode:
			var bc struct{ Context, Dockerfile string }
			errs = append(errs, r.Build.Decode(&bc))
			s.build = orDefault(bc.Context, ".")
			s.dockerfile = orDefault(bc.Dockerfile, "Dockerfile")
		}
		var err error
		s.command, err = stringList(&r.Command)
		errs = append(errs, err)
		switch r.Environment.Kind {
		case yaml.MappingNode:
			errs = append(errs, r.Environment.Decode(&s.env))
		case yaml.SequenceNode:
			var list []string
			errs = append(errs, r.Environment.Decode(&list))
			for _, kv := range list {
				k, v, _ := strings.Cut(kv, "=")
				s.env[k] = v
			}
		}
		switch r.DependsOn.Kind {
		case yaml.SequenceNode: // the short form means service_started
			var list []string
			errs = append(errs, r.DependsOn.Decode(&list))
			for _, d := range list {
				s.dependsOn[d] = "service_started"
			}
		case yaml.MappingNode:
			var m map[string]struct{ Condition string }
			errs = append(errs, r.DependsOn.Decode(&m))
			for d, c := range m {
				s.dependsOn[d] = orDefault(c.Condition, "service_started")
			}
		}
		if h := r.Healthcheck; h != nil && !h.Disable {
			s.healthcheck, err = stringList(&h.Test)
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("%s: service %s: %w", path, name, err)
		}
		f.services[name] = s
	}
	return f, nil
}

// stringList reads a list of strings, or a string compose would split on
// spaces (quotes are refused rather than half understood).
func stringList(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.ScalarNode:
		if strings.ContainsAny(n.Value, `"'\`) {
			return nil, fmt.Errorf("line %d: write %q as a list", n.Line, n.Value)
		}
		return strings.Fields(n.Value), nil
	default:
		var l []string
		err := n.Decode(&l)
		return l, err
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// kbusImage reports whether the service runs kbus: it is built from this
// repository's Dockerfile, whose entrypoint is the kbus binary (checked by
// checkDockerfile), or it names a kbus image.
func (s *composeService) kbusImage() bool {
	return s.build != "" || strings.HasPrefix(s.image, "kbus")
}

// oneShot reports whether the service is a job that runs to completion, which
// needs no healthcheck: it does not restart and others wait for it to exit.
func (f *composeFile) oneShot(name string) bool {
	if f.services[name].restart != "no" {
		return false
	}
	for _, s := range f.services {
		if s.dependsOn[name] == "service_completed_successfully" {
			return true
		}
	}
	return false
}

// checkKbusCommand holds args (what the container passes to kbus) against a
// fresh kbus command tree: the subcommand exists and runs, every flag is
// known and its value parses, the positional arguments and required flags are
// there. It returns the parsed command, to read flag values from.
func checkKbusCommand(args []string) (*cobra.Command, error) {
	root := newRootCmd(io.Discard, io.Discard)
	cmd, rest, err := root.Find(args)
	if err != nil {
		return nil, fmt.Errorf("kbus %s: %w", strings.Join(args, " "), err)
	}
	if cmd == root || !cmd.Runnable() {
		return nil, fmt.Errorf("kbus %s: %q is not a command kbus runs (a group of commands or none)", strings.Join(args, " "), cmd.CommandPath())
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return nil, fmt.Errorf("%s: %w", cmd.CommandPath(), err)
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return nil, fmt.Errorf("%s: %w", cmd.CommandPath(), err)
	}
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return nil, fmt.Errorf("%s: %w", cmd.CommandPath(), err)
	}
	if err := cmd.ValidateFlagGroups(); err != nil {
		return nil, fmt.Errorf("%s: %w", cmd.CommandPath(), err)
	}
	// Commands that check a required flag in RunE say so in its usage.
	var missing []string
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if strings.Contains(fl.Usage, "(required)") && !fl.Changed {
			missing = append(missing, "--"+fl.Name)
		}
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: %s is required", cmd.CommandPath(), strings.Join(missing, ", "))
	}
	return cmd, nil
}

// kafkaLauncherVars are KAFKA_* variables the apache/kafka image passes to
// its scripts or the JVM instead of turning them into broker properties
// (docker/resources/common-scripts/kafka-propertiesSpec.json excludes them,
// the launcher reads the JMX ones).
var kafkaLauncherVars = map[string]bool{
	"KAFKA_VERSION": true, "KAFKA_HEAP_OPTS": true, "KAFKA_OPTS": true, "KAFKA_JMX_OPTS": true,
	"KAFKA_JVM_PERFORMANCE_OPTS": true, "KAFKA_GC_LOG_OPTS": true, "KAFKA_LOG4J_OPTS": true,
	"KAFKA_LOG4J_ROOT_LOGLEVEL": true, "KAFKA_LOG4J_LOGGERS": true, "KAFKA_TOOLS_LOG4J_LOGLEVEL": true,
	"KAFKA_JMX_PORT": true, "KAFKA_JMX_HOSTNAME": true,
}

// kafkaBrokerProperties are the broker configs the compose file may set,
// each checked to be a config of Kafka 4.1 (in the output of
// `kafka-configs.sh --describe --entity-type brokers --all`; see
// https://kafka.apache.org/documentation/#brokerconfigs). A property that is
// not here fails the test: check it there, then add it.
var kafkaBrokerProperties = map[string]bool{
	// KRaft and listeners: what kbus needs to reach a single-node cluster.
	"node.id": true, "process.roles": true, "listeners": true, "advertised.listeners": true,
	"controller.listener.names": true, "controller.quorum.voters": true,
	"controller.quorum.bootstrap.servers": true, "listener.security.protocol.map": true,
	"inter.broker.listener.name": true,
	// Replication of user topics and of internal ones.
	"num.partitions": true, "default.replication.factor": true, "min.insync.replicas": true,
	"offsets.topic.replication.factor": true, "offsets.topic.num.partitions": true,
	"transaction.state.log.replication.factor": true, "transaction.state.log.min.isr": true,
	"transaction.state.log.num.partitions":             true,
	"share.coordinator.state.topic.replication.factor": true, "share.coordinator.state.topic.min.isr": true,
	"share.coordinator.state.topic.num.partitions": true,
	// Others a development broker commonly sets.
	"group.initial.rebalance.delay.ms": true, "log.dirs": true, "auto.create.topics.enable": true,
	"log.retention.hours": true,
}

// kafkaRequired are the properties kbus relies on, which the compose file
// must set; kafkaSingleNode must be 1 on a one-node cluster, or topics
// (user ones, __consumer_offsets, __transaction_state, __share_group_state)
// cannot be created or written with acks=all.
var (
	kafkaRequired = []string{"node.id", "process.roles", "listeners", "advertised.listeners",
		"controller.listener.names", "controller.quorum.voters", "listener.security.protocol.map",
		"inter.broker.listener.name"}
	kafkaSingleNode = []string{"default.replication.factor", "min.insync.replicas",
		"offsets.topic.replication.factor", "transaction.state.log.replication.factor",
		"transaction.state.log.min.isr", "share.coordinator.state.topic.replication.factor",
		"share.coordinator.state.topic.min.isr"}
)

var singleUnderscore = regexp.MustCompile(`[^_]_[^_]`)

// kafkaProperty turns a KAFKA_* variable into the broker property the
// apache/kafka image writes, by the image's documented rule
// (docker/examples/README.md): after the prefix, _ is a dot, __ an
// underscore, ___ a dash, and the whole is lower case.
func kafkaProperty(env string) string {
	k := strings.TrimPrefix(env, "KAFKA_")
	k = singleUnderscore.ReplaceAllStringFunc(k, func(s string) string { return strings.ReplaceAll(s, "_", ".") })
	k = strings.ReplaceAll(k, "___", "-")
	return strings.ToLower(strings.ReplaceAll(k, "__", "_"))
}

// listenerList parses NAME://host:port,... into name → host:port.
func listenerList(v string) (map[string]string, error) {
	m := map[string]string{}
	for _, l := range strings.Split(v, ",") {
		name, hp, ok := strings.Cut(strings.TrimSpace(l), "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("%q is not NAME://host:port", l)
		}
		if _, _, err := net.SplitHostPort(hp); err != nil {
			return nil, fmt.Errorf("%q: %w", l, err)
		}
		m[name] = hp
	}
	return m, nil
}

func port(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

// checkKafka checks the broker's environment: every KAFKA_* variable is a
// launcher variable or a known broker property, the properties kbus relies on
// are set, replication fits one node, and the KRaft listeners hang together
// (each advertised, controller and inter-broker listener is a listener with a
// security protocol; the quorum voter is this node on the controller port;
// each published port is a listener advertised at the address the host uses).
func checkKafka(s *composeService) error {
	var errs []error
	props := map[string]string{}
	for k, v := range s.env {
		switch {
		case kafkaLauncherVars[k]:
		case strings.HasPrefix(k, "KAFKA_"):
			p := kafkaProperty(k)
			if !kafkaBrokerProperties[p] {
				errs = append(errs, fmt.Errorf("%s: %s: %s is not a broker property (or not in kafkaBrokerProperties yet)", s.name, k, p))
			}
			props[p] = v
		case k == "CLUSTER_ID":
		default:
			errs = append(errs, fmt.Errorf("%s: %s: the apache/kafka image reads only KAFKA_* variables and CLUSTER_ID", s.name, k))
		}
	}
	for _, p := range kafkaRequired {
		if props[p] == "" {
			errs = append(errs, fmt.Errorf("%s: %s (KAFKA_%s) is not set", s.name, p, strings.ToUpper(strings.ReplaceAll(p, ".", "_"))))
		}
	}
	for _, p := range kafkaSingleNode {
		if props[p] != "1" {
			errs = append(errs, fmt.Errorf("%s: %s is %q, must be 1 on a single node", s.name, p, props[p]))
		}
	}
	if roles := strings.Split(props["process.roles"], ","); !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
		errs = append(errs, fmt.Errorf("%s: process.roles is %q, not broker,controller (a combined KRaft node)", s.name, props["process.roles"]))
	}
	listeners, err := listenerList(props["listeners"])
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("%s: listeners: %w", s.name, err))...)
	}
	advertised, err := listenerList(props["advertised.listeners"])
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("%s: advertised.listeners: %w", s.name, err))...)
	}
	protocols := map[string]string{}
	for _, kv := range strings.Split(props["listener.security.protocol.map"], ",") {
		name, proto, _ := strings.Cut(kv, ":")
		protocols[name] = proto
	}
	for name := range listeners {
		if protocols[name] == "" {
			errs = append(errs, fmt.Errorf("%s: listener %s has no entry in listener.security.protocol.map", s.name, name))
		}
	}
	for name := range advertised {
		if listeners[name] == "" {
			errs = append(errs, fmt.Errorf("%s: advertised listener %s is not in listeners", s.name, name))
		}
	}
	controller := props["controller.listener.names"]
	if listeners[controller] == "" {
		errs = append(errs, fmt.Errorf("%s: controller.listener.names %s is not in listeners", s.name, controller))
	}
	if advertised[controller] != "" {
		errs = append(errs, fmt.Errorf("%s: the controller listener %s must not be advertised", s.name, controller))
	}
	if ib := props["inter.broker.listener.name"]; advertised[ib] == "" || ib == controller {
		errs = append(errs, fmt.Errorf("%s: inter.broker.listener.name %s is not an advertised broker listener", s.name, ib))
	}
	for _, v := range strings.Split(props["controller.quorum.voters"], ",") {
		id, hp, _ := strings.Cut(v, "@")
		if id != props["node.id"] || port(hp) != port(listeners[controller]) {
			errs = append(errs, fmt.Errorf("%s: controller.quorum.voters %s is not node %s on the controller port %s", s.name, v, props["node.id"], port(listeners[controller])))
		}
	}
	for _, p := range s.ports {
		host, container, err := publishedPort(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: ports: %w", s.name, err))
			continue
		}
		found := false
		for name, hp := range advertised {
			h, ap, _ := net.SplitHostPort(hp)
			if port(listeners[name]) == container && ap == host && (h == "127.0.0.1" || h == "localhost") {
				found = true
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("%s: published port %s: no listener on %s advertised as 127.0.0.1:%s, so clients on the host cannot follow the broker's metadata", s.name, p, container, host))
		}
	}
	return errors.Join(errs...)
}

// publishedPort splits [ip:]host:container (with an optional /proto).
func publishedPort(p string) (host, container string, err error) {
	p, _, _ = strings.Cut(p, "/")
	parts := strings.Split(p, ":")
	if len(parts) < 2 {
		return "", "", fmt.Errorf("%q publishes no fixed host port", p)
	}
	return parts[len(parts)-2], parts[len(parts)-1], nil
}

// checkDockerfile checks that the image the kbus services build runs the kbus
// binary built from ./cmd/kbus, so that their command is kbus's arguments.
func checkDockerfile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	text := string(b)
	if !regexp.MustCompile(`(?m)go build [^\n]*\./cmd/kbus\s*$`).MatchString(text) {
		return fmt.Errorf("%s: no `go build ... ./cmd/kbus` step", path)
	}
	m := regexp.MustCompile(`(?m)^ENTRYPOINT\s+\["([^"]+)"\]\s*$`).FindAllStringSubmatch(text, -1)
	if len(m) == 0 || filepath.Base(m[len(m)-1][1]) != "kbus" {
		return fmt.Errorf(`%s: the last ENTRYPOINT must be ["/path/to/kbus"]`, path)
	}
	return nil
}

// checkCompose runs every check on f and returns what fails, one error per
// finding.
func checkCompose(f *composeFile) []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var kafka, kbusServers int
	for _, name := range sortedKeys(f.services) {
		s := f.services[name]
		// Healthchecks: every service that keeps running has one, and what
		// waits for a service waits for it to be healthy (or, for a job, done).
		if !f.oneShot(name) && len(s.healthcheck) == 0 {
			add(fmt.Errorf("%s: no healthcheck", name))
		}
		for dep, cond := range s.dependsOn {
			d := f.services[dep]
			switch {
			case d == nil:
				add(fmt.Errorf("%s: depends on %s, which is not a service", name, dep))
			case f.oneShot(dep):
				if cond != "service_completed_successfully" {
					add(fmt.Errorf("%s: depends on the job %s with %s, not service_completed_successfully", name, dep, cond))
				}
			case cond != "service_healthy":
				add(fmt.Errorf("%s: depends on %s with %s, not service_healthy", name, dep, cond))
			}
		}
		if strings.HasPrefix(s.image, "apache/kafka:") {
			kafka++
			add(checkKafka(s))
			continue
		}
		if !s.kbusImage() {
			continue
		}
		if s.build != "" {
			add(checkDockerfile(filepath.Join(f.dir, s.build, s.dockerfile)))
		}
		cmd, err := checkKbusCommand(s.command)
		if err != nil {
			add(fmt.Errorf("%s: %w", name, err))
			continue
		}
		add(checkKbusConnections(f, s, cmd))
		if cmd.Flags().Lookup("addr") != nil {
			kbusServers++
			add(checkKbusServer(s, cmd))
		}
	}
	if kafka != 1 {
		add(fmt.Errorf("%d apache/kafka services, want 1", kafka))
	}
	if kbusServers == 0 {
		add(errors.New("no kbus server (serve webhooks, serve sse) in the file"))
	}
	return errs
}

// checkKbusConnections checks that a kbus container's brokers (--brokers or
// KAFKA_BROKERS) are a listener the broker advertises to other containers,
// and its database (--database-url or DATABASE_URL) is a service of the file.
func checkKbusConnections(f *composeFile, s *composeService, cmd *cobra.Command) error {
	var errs []error
	setting := func(flag, env string) string {
		if fl := cmd.Flags().Lookup(flag); fl != nil && fl.Changed {
			return fl.Value.String()
		}
		return s.env[env]
	}
	var advertised map[string]string
	for _, k := range f.services {
		if strings.HasPrefix(k.image, "apache/kafka:") {
			advertised, _ = listenerList(k.env["KAFKA_ADVERTISED_LISTENERS"])
		}
	}
	brokers := setting("brokers", "KAFKA_BROKERS")
	if brokers == "" {
		errs = append(errs, fmt.Errorf("%s: no --brokers or KAFKA_BROKERS (the default 127.0.0.1:9092 is the container itself)", s.name))
	}
	for _, b := range strings.Split(brokers, ",") {
		if b != "" && !slices.Contains(mapValues(advertised), b) {
			errs = append(errs, fmt.Errorf("%s: broker %s is not a listener Kafka advertises (%v)", s.name, b, mapValues(advertised)))
		}
	}
	if cmd.Name() == "webhooks" || cmd.Name() == "sse" || cmd.Name() == "migrate" {
		db := setting("database-url", "DATABASE_URL")
		u, err := url.Parse(db)
		if err != nil || db == "" {
			errs = append(errs, fmt.Errorf("%s: no usable --database-url or DATABASE_URL (%q)", s.name, db))
		} else if d := f.services[u.Hostname()]; d == nil {
			errs = append(errs, fmt.Errorf("%s: the database host %s is not a service of this file", s.name, u.Hostname()))
		} else if s.dependsOn[u.Hostname()] == "" {
			errs = append(errs, fmt.Errorf("%s: does not depend on its database %s", s.name, u.Hostname()))
		}
	}
	return errors.Join(errs...)
}

// checkKbusServer checks a server's --addr: it listens on every interface (a
// loopback address would be unreachable from outside the container), its
// port is the one the service publishes and the one its healthcheck asks for
// /healthz on.
func checkKbusServer(s *composeService, cmd *cobra.Command) error {
	var errs []error
	addr := cmd.Flags().Lookup("addr").Value.String()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: --addr %q: %w", s.name, addr, err)
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		errs = append(errs, fmt.Errorf("%s: --addr %s listens on %s only; inside a container it must be 0.0.0.0:%s", s.name, addr, host, p))
	}
	published := false
	for _, pp := range s.ports {
		if _, c, err := publishedPort(pp); err == nil && c == p {
			published = true
		}
	}
	if !published {
		errs = append(errs, fmt.Errorf("%s: --addr port %s is not published in ports %v", s.name, p, s.ports))
	}
	hc := strings.Join(s.healthcheck, " ")
	if !strings.Contains(hc, "127.0.0.1:"+p+"/healthz") && !strings.Contains(hc, "localhost:"+p+"/healthz") {
		errs = append(errs, fmt.Errorf("%s: the healthcheck %q does not GET /healthz on port %s", s.name, hc, p))
	}
	if _, err := strconv.Atoi(p); err != nil {
		errs = append(errs, fmt.Errorf("%s: --addr %s has no numeric port", s.name, addr))
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func mapValues(m map[string]string) []string {
	var v []string
	for _, k := range sortedKeys(m) {
		v = append(v, m[k])
	}
	return v
}

const composePath = "../../docker-compose.yml"

// TestComposeFile checks docker-compose.yml against the CLI of today and the
// apache/kafka image's conventions; see checkCompose.
func TestComposeFile(t *testing.T) {
	f, err := loadCompose(composePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range checkCompose(f) {
		t.Error(err)
	}
	for _, want := range []string{"kafka", "postgres", "kbus-webhooks", "kbus-sse"} {
		if f.services[want] == nil {
			t.Errorf("no service %s", want)
		}
	}
	// The same Kafka as the native scripts start, so that a test passing on
	// one passes on the other.
	sh, err := os.ReadFile("../../scripts/kafka.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`KBUS_KAFKA_VERSION:-([0-9.]+)`).FindSubmatch(sh)
	if m == nil {
		t.Fatal("scripts/kafka.sh: no default KBUS_KAFKA_VERSION")
	}
	if k := f.services["kafka"]; k != nil && k.image != "apache/kafka:"+string(m[1]) {
		t.Errorf("kafka: image %s, but scripts/kafka.sh starts Kafka %s", k.image, m[1])
	}
}

// TestComposeCheckCatchesDrift proves that the checks fail on what they are
// for: each case breaks one thing in the real file and expects a finding.
func TestComposeCheckCatchesDrift(t *testing.T) {
	replaceArg := func(svc, old, new string) func(*composeFile) {
		return func(f *composeFile) {
			c := f.services[svc].command
			i := slices.Index(c, old)
			if i < 0 {
				t.Fatalf("%s has no argument %s", svc, old)
			}
			c[i] = new
		}
	}
	cases := []struct {
		name   string
		mutate func(*composeFile)
		want   string
	}{
		{"renamed flag", replaceArg("kbus-webhooks", "--event-types", "--events"), "unknown flag: --events"},
		{"unknown subcommand", replaceArg("kbus-sse", "sse", "stream"), "not a command"},
		{"group, not a command", func(f *composeFile) { f.services["kbus-sse"].command = []string{"serve"} }, "not a command"},
		{"required flag missing", func(f *composeFile) {
			f.services["kbus-sse"].command = []string{"serve", "sse", "--addr", "0.0.0.0:8081"}
		}, "--event-types is required"},
		{"bad flag value", replaceArg("kbus-topics", "3", "three"), "invalid argument"},
		{"loopback addr", replaceArg("kbus-sse", "0.0.0.0:8081", "127.0.0.1:8081"), "must be 0.0.0.0:8081"},
		{"port not published", replaceArg("kbus-webhooks", "0.0.0.0:8080", "0.0.0.0:9999"), "not published"},
		{"no healthcheck", func(f *composeFile) { f.services["kbus-sse"].healthcheck = nil }, "kbus-sse: no healthcheck"},
		{"started, not healthy", func(f *composeFile) { f.services["kbus-sse"].dependsOn["kafka"] = "service_started" }, "not service_healthy"},
		{"misspelt property", func(f *composeFile) {
			k := f.services["kafka"]
			k.env["KAFKA_MIN_INSYNC_REPLICA"] = k.env["KAFKA_MIN_INSYNC_REPLICAS"]
			delete(k.env, "KAFKA_MIN_INSYNC_REPLICAS")
		}, "min.insync.replica is not a broker property"},
		{"replication 3", func(f *composeFile) { f.services["kafka"].env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] = "3" }, "must be 1"},
		{"required property missing", func(f *composeFile) { delete(f.services["kafka"].env, "KAFKA_CONTROLLER_QUORUM_VOTERS") }, "controller.quorum.voters (KAFKA_CONTROLLER_QUORUM_VOTERS) is not set"},
		{"listener without protocol", func(f *composeFile) {
			f.services["kafka"].env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"] = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
		}, "listener DOCKER has no entry"},
		{"host port not advertised", func(f *composeFile) {
			f.services["kafka"].env["KAFKA_ADVERTISED_LISTENERS"] = "PLAINTEXT://kafka:9092,DOCKER://kafka:19092"
		}, "advertised as 127.0.0.1:9092"},
		{"brokers not advertised", func(f *composeFile) { f.services["kbus-sse"].env["KAFKA_BROKERS"] = "kafka:9092" }, "broker kafka:9092 is not a listener"},
		{"database not a service", func(f *composeFile) {
			f.services["kbus-webhooks"].env["DATABASE_URL"] = "postgres://postgres@db:5432/kbus"
		}, "database host db"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := loadCompose(composePath)
			if err != nil {
				t.Fatal(err)
			}
			c.mutate(f)
			errs := checkCompose(f)
			for _, err := range errs {
				if strings.Contains(err.Error(), c.want) {
					return
				}
			}
			t.Errorf("no finding contains %q; findings: %v", c.want, errs)
		})
	}
}

func TestKafkaProperty(t *testing.T) {
	for env, want := range map[string]string{
		"KAFKA_NODE_ID":                          "node.id",
		"KAFKA_ADVERTISED_LISTENERS":             "advertised.listeners",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":    "transaction.state.log.min.isr",
		"KAFKA_ABC_DEF":                          "abc.def", // the image's own examples
		"KAFKA_ABC___DEF":                        "abc-def",
		"KAFKA_ABC__DEF":                         "abc_def",
		"KAFKA_LISTENER_NAME_DOCKER_SSL__CLIENT": "listener.name.docker.ssl_client",
	} {
		if got := kafkaProperty(env); got != want {
			t.Errorf("kafkaProperty(%s) = %s, want %s", env, got, want)
		}
	}
}
