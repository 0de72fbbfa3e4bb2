package sse_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/kbus-dev/kbus/sse"
)

// A Reader parses a stream event by event: comments go to OnComment, a
// retry field changes Retry, an event without an id keeps the last one, and
// a final event cut off by the end of the stream is dropped, as the HTML
// specification says. LastEventID is what to send when reconnecting. A kbus
// server's event id is <message id>.<position>; MessageID gives the message
// id.
func ExampleReader() {
	stream := "retry: 5000\n\n" +
		": heartbeat\n\n" +
		"event: payment.completed\n" +
		"id: msg_01HM6AQH5VX7K9PAYM3NTQ8RSW.ASNFZ4kAKgA\n" +
		"data: {\"payment_id\":\"pay_x7k9\",\n" +
		"data:  \"amount\":4999}\n\n" +
		"data: no type, no id\n\n" +
		"event: cut.off\ndata: by the end of the stream\n"

	r := sse.NewReader(strings.NewReader(stream))
	r.OnComment = func(text string) { fmt.Printf("comment %q\n", text) }
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("type %q message id %q retry %v\n%s\n", ev.Type, ev.MessageID(), ev.Retry, ev.Data)
	}
	fmt.Println("reconnect with Last-Event-ID:", r.LastEventID())
	// Output:
	// comment "heartbeat"
	// type "payment.completed" message id "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW" retry 5s
	// {"payment_id":"pay_x7k9",
	//  "amount":4999}
	// type "" message id "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW" retry 5s
	// no type, no id
	// reconnect with Last-Event-ID: msg_01HM6AQH5VX7K9PAYM3NTQ8RSW.ASNFZ4kAKgA
}
