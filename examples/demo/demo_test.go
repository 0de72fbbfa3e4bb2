package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWaitFor(t *testing.T) {
	ctx := context.Background()
	n := 0
	err := waitFor(ctx, 5*time.Second, "three calls", func(context.Context) (bool, string, error) {
		n++
		return n == 3, "", nil
	})
	if err != nil || n != 3 {
		t.Fatalf("waitFor: %v after %d calls", err, n)
	}

	err = waitFor(ctx, 300*time.Millisecond, "the impossible", func(context.Context) (bool, string, error) {
		return false, "still 0 of 1", nil
	})
	if err == nil || !strings.Contains(err.Error(), "the impossible") || !strings.Contains(err.Error(), "still 0 of 1") {
		t.Errorf("timeout error %q does not say what was expected and seen", err)
	}

	start := time.Now()
	err = waitFor(ctx, time.Minute, "a service", func(context.Context) (bool, string, error) {
		return false, "", errors.Join(errStop, errors.New("payments exited"))
	})
	if !errors.Is(err, errStop) || time.Since(start) > 5*time.Second {
		t.Errorf("a stopped service: %v after %s, want errStop at once", err, time.Since(start))
	}
}

func TestFormatting(t *testing.T) {
	if got := money(4999, "USD"); got != "49.99 USD" {
		t.Errorf("money(4999) = %q", got)
	}
	if got := money(300, "GBP"); got != "3.00 GBP" {
		t.Errorf("money(300) = %q", got)
	}
	if got := short("msg_01HM6AQH5VX7K9PAYM3NTQ8RSW"); got != "msg_01HM6A…8RSW" {
		t.Errorf("short = %q", got)
	}
	if got := short("msg_1"); got != "msg_1" {
		t.Errorf("short(msg_1) = %q", got)
	}
}
