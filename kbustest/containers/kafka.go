package containers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// KafkaImage is the image Kafka runs from: Apache Kafka's official image, the
// version that scripts/kafka.sh runs natively.
const KafkaImage = "apache/kafka:4.1.2"

// Inside the Kafka container: the port clients use (published on the host),
// the inter-broker port and the KRaft controller's port.
const (
	kafkaClientPort     = "9092/tcp"
	kafkaBrokerPort     = "9094"
	kafkaControllerPort = "9093"
)

// kafkaStarter is the script the Kafka container waits for: it is copied in
// once the container runs and the host's port is known, because a client must
// be told (advertised) the address it reaches the broker at, and the image's
// own launcher (/etc/kafka/docker/run) reads it from the environment.
const kafkaStarter = "/tmp/kbus-kafka-start.sh"

// kafkaStartedLog is the line Kafka logs when the broker serves requests.
const kafkaStartedLog = "Kafka Server started"

// kafkaEnv is the broker's configuration, in the image's documented
// variables: KAFKA_ followed by a property's name in capitals with dots as
// underscores, plus CLUSTER_ID and KAFKA_HEAP_OPTS. It is a single node in
// KRaft mode (broker and controller), configured as scripts/kafka.sh
// configures the native one: replication factors and in-sync minimums of 1,
// no initial rebalance delay, the same retention. KAFKA_ADVERTISED_LISTENERS is added by the
// starter script.
func kafkaEnv(clusterID string) map[string]string {
	return map[string]string{
		"CLUSTER_ID":                           clusterID,
		"KAFKA_NODE_ID":                        "1",
		"KAFKA_PROCESS_ROLES":                  "broker,controller",
		"KAFKA_LISTENERS":                      "PLAINTEXT://0.0.0.0:9092,BROKER://0.0.0.0:" + kafkaBrokerPort + ",CONTROLLER://0.0.0.0:" + kafkaControllerPort,
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"KAFKA_INTER_BROKER_LISTENER_NAME":     "BROKER",
		"KAFKA_CONTROLLER_LISTENER_NAMES":      "CONTROLLER",
		"KAFKA_CONTROLLER_QUORUM_VOTERS":       "1@localhost:" + kafkaControllerPort,

		"KAFKA_NUM_PARTITIONS":                                   "1",
		"KAFKA_DEFAULT_REPLICATION_FACTOR":                       "1",
		"KAFKA_MIN_INSYNC_REPLICAS":                              "1",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":                 "1",
		"KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS":                     "1",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR":         "1",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":                    "1",
		"KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS":             "1",
		"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
		"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR":            "1",
		"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":                 "0",
		"KAFKA_AUTO_CREATE_TOPICS_ENABLE":                        "true",
		"KAFKA_DELETE_TOPIC_ENABLE":                              "true",
		"KAFKA_LOG_RETENTION_HOURS":                              "168",
		"KAFKA_LOG_SEGMENT_BYTES":                                "268435456",

		"KAFKA_HEAP_OPTS": "-Xms256m -Xmx1g",
	}
}

// kafkaStarterScript is the starter script for a broker that clients reach at
// endpoint (host:port on the Docker host).
func kafkaStarterScript(endpoint string) string {
	return fmt.Sprintf(`#!/usr/bin/env bash
export KAFKA_ADVERTISED_LISTENERS='PLAINTEXT://%s,BROKER://localhost:%s'
exec /etc/kafka/docker/run
`, endpoint, kafkaBrokerPort)
}

// newClusterID returns a KRaft cluster id: 16 random bytes in unpadded
// URL-safe base64, as kafka-storage.sh random-uuid prints them.
func newClusterID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// kafkaOptions configures the Kafka container: the broker's environment, its
// client port published on a random host port, and a start in two steps (the
// container waits for the starter script, which is copied in once the host
// port is known; then the broker's log says it serves).
func kafkaOptions(clusterID string) []testcontainers.ContainerCustomizer {
	return []testcontainers.ContainerCustomizer{
		testcontainers.WithEnv(kafkaEnv(clusterID)),
		testcontainers.WithExposedPorts(kafkaClientPort),
		testcontainers.WithEntrypoint("sh"),
		testcontainers.WithCmd("-c", "while [ ! -f "+kafkaStarter+" ]; do sleep 0.1; done; exec bash "+kafkaStarter),
		testcontainers.WithLabels(map[string]string{"dev.kbus.service": "kafka"}),
		testcontainers.WithLifecycleHooks(testcontainers.ContainerLifecycleHooks{
			PostStarts: []testcontainers.ContainerHook{startKafka},
		}),
	}
}

// startKafka copies the starter script into a running Kafka container and
// waits until the broker serves.
func startKafka(ctx context.Context, c testcontainers.Container) error {
	if err := wait.ForMappedPort(kafkaClientPort).WaitUntilReady(ctx, c); err != nil {
		return fmt.Errorf("wait for the client port: %w", err)
	}
	endpoint, err := c.PortEndpoint(ctx, kafkaClientPort, "")
	if err != nil {
		return fmt.Errorf("client endpoint: %w", err)
	}
	if err := c.CopyToContainer(ctx, []byte(kafkaStarterScript(endpoint)), kafkaStarter, 0o755); err != nil {
		return fmt.Errorf("copy the starter script: %w", err)
	}
	return wait.ForLog(kafkaStartedLog).WithStartupTimeout(2*time.Minute).WaitUntilReady(ctx, c)
}
