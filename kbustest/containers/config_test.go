package containers

import (
	"bufio"
	"context"
	"encoding/base64"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/testcontainers/testcontainers-go"

	"github.com/kbus-dev/kbus/kbustest"
)

// request applies opts to a request for image, as testcontainers.Run does
// before it asks the engine for anything.
func request(t *testing.T, image string, base testcontainers.ContainerRequest, opts []testcontainers.ContainerCustomizer) testcontainers.GenericContainerRequest {
	t.Helper()
	base.Image = image
	req := testcontainers.GenericContainerRequest{ContainerRequest: base, Started: true}
	for _, o := range opts {
		if err := o.Customize(&req); err != nil {
			t.Fatal(err)
		}
	}
	return req
}

// pinned fails unless image names a repository and a fixed tag.
func pinned(t *testing.T, image, repo string) {
	t.Helper()
	r, tag, ok := strings.Cut(image, ":")
	if !ok || r != repo || tag == "" || tag == "latest" || strings.Contains(tag, "latest") {
		t.Errorf("image %q: want %s with a pinned version", image, repo)
	}
}

// kafkaProperty turns one of the apache/kafka image's variables into the
// broker property it sets, by the image's documented rule: drop KAFKA_, lower
// case, '_' → '.', '__' → '_', '___' → '-'.
func kafkaProperty(env string) (string, bool) {
	name, ok := strings.CutPrefix(env, "KAFKA_")
	if !ok {
		return "", false
	}
	name = strings.ToLower(name)
	name = strings.ReplaceAll(name, "___", "\x00")
	name = strings.ReplaceAll(name, "__", "\x01")
	name = strings.ReplaceAll(name, "_", ".")
	name = strings.ReplaceAll(name, "\x00", "-")
	return strings.ReplaceAll(name, "\x01", "_"), true
}

// listenerNames returns the names of a listeners property's entries
// (NAME://host:port,...), each with its port.
func listenerNames(t *testing.T, v string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range strings.Split(v, ",") {
		name, addr, ok := strings.Cut(l, "://")
		i := strings.LastIndex(addr, ":")
		if !ok || i < 0 {
			t.Fatalf("listener %q is not NAME://host:port", l)
		}
		out[name] = addr[i+1:]
	}
	return out
}

func TestKafkaContainerConfiguration(t *testing.T) {
	pinned(t, KafkaImage, "apache/kafka")
	id := newClusterID()
	req := request(t, KafkaImage, testcontainers.ContainerRequest{}, kafkaOptions(id))

	// The image's launcher (/etc/kafka/docker/run) reads these; the rest of
	// KAFKA_* are broker properties.
	props := map[string]string{}
	for k, v := range req.Env {
		switch k {
		case "CLUSTER_ID", "KAFKA_HEAP_OPTS":
			continue
		}
		p, ok := kafkaProperty(k)
		if !ok {
			t.Errorf("variable %s is neither one the apache/kafka image documents nor KAFKA_<property>", k)
			continue
		}
		props[p] = v
	}
	if req.Env["CLUSTER_ID"] != id {
		t.Errorf("CLUSTER_ID = %q, want %q", req.Env["CLUSTER_ID"], id)
	}
	if b, err := base64.RawURLEncoding.DecodeString(id); err != nil || len(b) != 16 {
		t.Errorf("cluster id %q is not 16 bytes of unpadded URL-safe base64 (%v)", id, err)
	}
	if other := newClusterID(); other == id {
		t.Errorf("two cluster ids are equal: %q", id)
	}

	// KRaft, one node that is broker and controller.
	want := map[string]string{
		"process.roles":                    "broker,controller",
		"node.id":                          "1",
		"controller.listener.names":        "CONTROLLER",
		"inter.broker.listener.name":       "BROKER",
		"controller.quorum.voters":         "1@localhost:9093",
		"offsets.topic.replication.factor": "1",
	}
	for k, v := range want {
		if props[k] != v {
			t.Errorf("%s = %q, want %q", k, props[k], v)
		}
	}
	if _, ok := props["zookeeper.connect"]; ok {
		t.Error("zookeeper.connect is set: the image would not run in KRaft mode")
	}
	if _, ok := props["advertised.listeners"]; ok {
		t.Error("advertised.listeners is set before the host port is known")
	}
	listeners := listenerNames(t, props["listeners"])
	protocols := map[string]bool{}
	for _, m := range strings.Split(props["listener.security.protocol.map"], ",") {
		name, proto, _ := strings.Cut(m, ":")
		protocols[name] = proto == "PLAINTEXT"
	}
	for name := range listeners {
		if !protocols[name] {
			t.Errorf("listener %s has no PLAINTEXT entry in listener.security.protocol.map", name)
		}
	}
	if listeners["PLAINTEXT"]+"/tcp" != kafkaClientPort || !slices.Equal(req.ExposedPorts, []string{kafkaClientPort}) {
		t.Errorf("client listener on %s, exposed %v: want %s, the only published port", listeners["PLAINTEXT"], req.ExposedPorts, kafkaClientPort)
	}
	if listeners["CONTROLLER"] == "" || !strings.HasSuffix(props["controller.quorum.voters"], ":"+listeners["CONTROLLER"]) {
		t.Errorf("controller.quorum.voters %q does not name the CONTROLLER listener's port %q", props["controller.quorum.voters"], listeners["CONTROLLER"])
	}
	if listeners["BROKER"] != kafkaBrokerPort {
		t.Errorf("BROKER listener on %q, want %s", listeners["BROKER"], kafkaBrokerPort)
	}

	// The same broker settings as the native one of scripts/kafka.sh, but for
	// addresses and paths.
	if native, err := nativeKafkaProperties("../../scripts/kafka.sh"); err != nil {
		t.Logf("not compared with scripts/kafka.sh: %v", err)
	} else {
		if len(native) < 10 {
			t.Errorf("read %d properties from scripts/kafka.sh: has its heredoc changed?", len(native))
		}
		for k, v := range native {
			switch k {
			case "listeners", "advertised.listeners", "listener.security.protocol.map", "inter.broker.listener.name",
				"controller.quorum.voters", "log.dirs":
				continue
			}
			if props[k] != v {
				t.Errorf("%s = %q in the container, %q in scripts/kafka.sh", k, props[k], v)
			}
		}
	}

	// The two-step start: the container waits for the starter script, which
	// a hook copies in once the host port is known.
	if !slices.Equal(req.Entrypoint, []string{"sh"}) || len(req.Cmd) != 2 || req.Cmd[0] != "-c" ||
		!strings.Contains(req.Cmd[1], "[ ! -f "+kafkaStarter+" ]") || !strings.HasSuffix(req.Cmd[1], "exec bash "+kafkaStarter) {
		t.Errorf("entrypoint %q, cmd %q: want sh waiting for %s, then running it", req.Entrypoint, req.Cmd, kafkaStarter)
	}
	hooks := 0
	for _, h := range req.LifecycleHooks {
		hooks += len(h.PostStarts)
	}
	if hooks != 1 {
		t.Errorf("%d post-start hooks, want 1 (copy the starter script, wait for the broker)", hooks)
	}
	if req.Labels["dev.kbus.service"] != "kafka" {
		t.Errorf("labels %v", req.Labels)
	}
}

func TestKafkaStarterScriptAdvertisesTheHostPort(t *testing.T) {
	s := kafkaStarterScript("localhost:32771")
	if !strings.HasPrefix(s, "#!/usr/bin/env bash\n") || !strings.HasSuffix(s, "exec /etc/kafka/docker/run\n") {
		t.Errorf("script does not hand over to the image's launcher:\n%s", s)
	}
	const want = "export KAFKA_ADVERTISED_LISTENERS='PLAINTEXT://localhost:32771,BROKER://localhost:9094'\n"
	if !strings.Contains(s, want) {
		t.Errorf("script lacks %q:\n%s", want, s)
	}
	listeners := listenerNames(t, kafkaEnv("x")["KAFKA_LISTENERS"])
	for name, port := range listenerNames(t, "PLAINTEXT://localhost:32771,BROKER://localhost:9094") {
		if _, ok := listeners[name]; !ok || name == "CONTROLLER" {
			t.Errorf("advertised listener %s is not a broker listener", name)
		}
		if name == "BROKER" && port != listeners[name] {
			t.Errorf("BROKER advertised on %s, listens on %s", port, listeners[name])
		}
	}
}

// nativeKafkaProperties reads the single-node server.properties that
// scripts/kafka.sh writes (the first heredoc named PROPS).
func nativeKafkaProperties(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	props := map[string]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasSuffix(line, "<<PROPS"):
			in = true
		case line == "PROPS" && in:
			return props, nil
		case in && line != "" && !strings.HasPrefix(line, "#"):
			if k, v, ok := strings.Cut(line, "="); ok {
				props[k] = v
			}
		}
	}
	return props, sc.Err()
}

func TestPostgresContainerConfiguration(t *testing.T) {
	pinned(t, PostgresImage, "postgres")
	// What the testcontainers postgres module sets before our options.
	base := testcontainers.ContainerRequest{Cmd: []string{"postgres", "-c", "fsync=off"}}
	req := request(t, PostgresImage, base, postgresOptions())

	def, err := url.Parse(kbustest.DefaultDatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	if req.Env["POSTGRES_USER"] != def.User.Username() || req.Env["POSTGRES_DB"] != strings.TrimPrefix(def.Path, "/") {
		t.Errorf("user %q, database %q: want those of kbustest.DefaultDatabaseURL (%s)", req.Env["POSTGRES_USER"], req.Env["POSTGRES_DB"], kbustest.DefaultDatabaseURL)
	}
	if req.Env["POSTGRES_PASSWORD"] == "" {
		t.Error("no POSTGRES_PASSWORD: the image refuses to start without one (or trust)")
	}
	if want := []string{"postgres", "-c", "fsync=off", "-c", "max_connections=200"}; !slices.Equal(req.Cmd, want) {
		t.Errorf("cmd %q, want %q", req.Cmd, want)
	}
	if req.WaitingFor == nil {
		t.Error("no wait strategy: Start would return before PostgreSQL accepts connections")
	}
	if req.Labels["dev.kbus.service"] != "postgres" {
		t.Errorf("labels %v", req.Labels)
	}
}

// TestDockerAnswersWithoutAnEngine checks that the probe fails quickly and
// says why. (testcontainers looks for the Docker host once per process, so
// DOCKER_HOST here matters only when this test is the first to ask.)
func TestDockerAnswersWithoutAnEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/no-docker.sock")
	ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
	defer cancel()
	err := DockerAnswers(ctx)
	if err == nil {
		t.Skip("an engine answers despite DOCKER_HOST (~/.testcontainers.properties names one?)")
	}
	if ctx.Err() != nil {
		t.Errorf("the probe took the whole %v: %v", ProbeTimeout, err)
	}
	t.Logf("no engine: %v", err)

	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := DockerAnswers(done); err == nil {
		t.Error("DockerAnswers with an ended context returned nil")
	}
}
