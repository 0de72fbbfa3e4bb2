package schemas_test

import (
	"errors"
	"fmt"

	"github.com/kbus-dev/kbus/schemas"
)

func ExampleRegistry_ValidateJSON() {
	reg, err := schemas.Default()
	if err != nil {
		panic(err)
	}
	data := []byte(`{"payment_id":"pay_x7k9","amount":"49.99","currency":"USD","merchant_id":"merch_abc"}`)

	err = reg.ValidateJSON("payment.completed", "1.0", data)
	var ve *schemas.ValidationError
	if errors.As(err, &ve) {
		fmt.Println("field:", ve.Field)
	}
	fmt.Println(errors.Is(err, schemas.ErrInvalidData))
	fmt.Println(err)
	// Output:
	// field: amount
	// true
	// schemas: payment.completed 1.0: field amount: expected long (an integer), got string
}

func ExampleRegistry_DecodeAvro() {
	reg, err := schemas.Default()
	if err != nil {
		panic(err)
	}
	// A producer still on 1.0 writes Avro...
	b, err := reg.EncodeAvro("payment.completed", "1.0",
		[]byte(`{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc"}`))
	if err != nil {
		panic(err)
	}
	// ...and a consumer written for 1.1 reads it, the new fields defaulted.
	data, err := reg.DecodeAvro("payment.completed", "1.0", "1.1", b)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(data))
	// Output:
	// {"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc","order_id":null,"customer_email":null,"metadata":{},"fee_amount":0,"captured_at":null}
}

func ExampleRegistry_Check() {
	reg, err := schemas.Default()
	if err != nil {
		panic(err)
	}
	for _, p := range reg.Check(schemas.Full) {
		fmt.Println(p)
	}
	fmt.Println(len(reg.Check(schemas.Full)), "problems")
	// Output:
	// 0 problems
}
