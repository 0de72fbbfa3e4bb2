package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

// ErrForbiddenAddress is wrapped by the error DialGuard.Control returns for
// a destination it refuses. Through an http.Client it surfaces inside a
// *url.Error and a *net.OpError; errors.Is finds it through both. The
// dispatcher treats it as a permanent failure: retrying cannot help.
var ErrForbiddenAddress = errors.New("webhook: destination address not allowed")

// DialGuard protects the webhook dispatcher against server-side request
// forgery: an endpoint URL that points, directly or through DNS, at the
// network kbus runs in (a database, the cloud metadata service at
// 169.254.169.254, an admin port on loopback).
//
// It checks the IP address each connection is about to be made to, after
// DNS resolution, so a public-looking name that resolves to 127.0.0.1 is
// refused, and a name that resolves differently between validation and
// connection (DNS rebinding) gains nothing. It refuses:
//
//   - loopback (127.0.0.0/8, ::1) and unspecified (0.0.0.0/8, ::)
//   - private: RFC 1918 (10/8, 172.16/12, 192.168/16) and RFC 4193 (fc00::/7)
//   - link-local: 169.254.0.0/16 (which holds the metadata address) and fe80::/10
//   - multicast (224.0.0.0/4, ff00::/8), broadcast and reserved (240.0.0.0/4)
//   - shared address space for carrier-grade NAT (100.64.0.0/10)
//   - the other IANA special-purpose blocks that are not public
//     destinations: 192.0.0.0/24, the documentation and benchmarking
//     ranges, deprecated site-local fec0::/10, discard-only 100::/64, and
//     the prefixes that embed an IPv4 address and could reach a private one
//     (NAT64 64:ff9b::/96 and 64:ff9b:1::/48, Teredo and the rest of
//     2001::/23, 6to4 2002::/16)
//
// IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) are judged as the IPv4
// address they hold. An address within one of the Allow prefixes is
// accepted whatever its kind: tests and local demos use AllowLoopback, and
// an operator may allow a private range deliberately.
//
// Use Control as net.Dialer.Control in the transport of the client that
// delivers webhooks, and do not route that client through a proxy (set
// http.Transport.Proxy to nil): with a proxy, the guard sees only the
// proxy's address.
//
//	d := &net.Dialer{Timeout: 10 * time.Second, Control: webhook.DialGuard{}.Control}
//	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
//
// The Dispatcher uses a DialGuard this way, and also refuses before any
// DNS query the hosts the API refuses at registration: non-public IP
// addresses, IPv4 addresses in non-standard forms (0x7f000001,
// 2130706433, 127.1) and localhost names.
//
// The zero DialGuard refuses every non-public address. A DialGuard is a
// value; it is safe for concurrent use if Allow is not changed.
type DialGuard struct {
	// Allow lists prefixes that are accepted even though they are not
	// public. Nil allows nothing extra.
	Allow []netip.Prefix
}

// Control implements net.Dialer.Control: it returns nil if the connection
// to address (an "ip:port" the dialer has resolved) may be made, and an
// error wrapping ErrForbiddenAddress if not. An address that is not an IP
// and port (a Unix socket path, say) is refused too. network and the raw
// connection are not used.
func (g DialGuard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not an IP address and port", ErrForbiddenAddress, network, address)
	}
	if reason := g.refusal(ap.Addr()); reason != "" {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, reason)
	}
	return nil
}

// refusal says why a connection to ip is refused ("127.0.0.1 is
// loopback"), or returns "" if it may be made.
func (g DialGuard) refusal(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	for _, p := range g.Allow {
		if p.Contains(ip) {
			return ""
		}
	}
	if reason := forbiddenReason(ip); reason != "" {
		return ip.String() + " is " + reason
	}
	return ""
}

// hostRefusal judges the host of a URL before any DNS query, and says why
// it is refused, or returns "" to leave the judgement to Control once the
// name is resolved. It refuses
//
//   - an IP address (bracketed IPv6, IPv4-mapped, with a zone or a trailing
//     dot) that Control would refuse;
//   - a host whose last label is a number (2130706433, 0x7f000001, 127.1,
//     0177.0.0.1): URL parsers and resolvers read these as IPv4 addresses
//     in non-standard forms, or not at all, each its own way, so only the
//     dotted-decimal form is accepted;
//   - localhost and names under .localhost (RFC 6761), which resolve to
//     loopback, unless 127.0.0.1 is allowed.
func (g DialGuard) hostRefusal(host string) string {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if ip, err := netip.ParseAddr(h); err == nil {
		return g.refusal(ip)
	}
	labels := strings.Split(h, ".")
	if numericLabel(labels[len(labels)-1]) {
		if ip, ok := parseIPv4Loose(labels); ok {
			return fmt.Sprintf("%q is the IPv4 address %s in a non-standard form; write it as %s", host, ip, ip)
		}
		return fmt.Sprintf("%q is neither an IPv4 address nor a host name", host)
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		if g.refusal(netip.AddrFrom4([4]byte{127, 0, 0, 1})) != "" {
			return fmt.Sprintf("%q is a localhost name: loopback", host)
		}
	}
	return ""
}

// numericLabel reports whether a DNS label is a number as the WHATWG URL
// standard reads one in a host: decimal digits, or 0x and hex digits.
func numericLabel(l string) bool {
	if len(l) >= 2 && (l[:2] == "0x" || l[:2] == "0X") {
		l = l[2:]
		return strings.Trim(l, "0123456789abcdefABCDEF") == ""
	}
	return l != "" && strings.Trim(l, "0123456789") == ""
}

// parseIPv4Loose reads 1 to 4 dot-separated numbers, each decimal, octal
// (a leading 0) or hex (0x), as inet_aton and the WHATWG URL standard do:
// the last number fills the remaining bytes.
func parseIPv4Loose(parts []string) (netip.Addr, bool) {
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var v uint64
	for i, p := range parts {
		base := 10
		switch {
		case len(p) >= 2 && (p[:2] == "0x" || p[:2] == "0X"):
			base, p = 16, p[2:]
			if p == "" {
				p = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		n, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		bits := uint(8)
		if i == len(parts)-1 {
			bits = uint(8 * (5 - len(parts)))
		}
		if n >= 1<<bits {
			return netip.Addr{}, false
		}
		v = v<<bits | n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// AllowLoopback returns the loopback prefixes 127.0.0.0/8 and ::1/128, for
// a DialGuard in tests and local demos that deliver to a receiver on the
// same machine.
func AllowLoopback() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
	}
}

// specialBlocks are the non-public blocks that netip's predicates do not
// cover, with the reason reported.
var specialBlocks = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "in \"this network\" 0.0.0.0/8"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT space 100.64.0.0/10"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment space 192.0.0.0/24"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation space 192.0.2.0/24"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking space 198.18.0.0/15"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation space 198.51.100.0/24"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation space 203.0.113.0/24"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved space 240.0.0.0/4"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64 space 64:ff9b::/96"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local NAT64 space 64:ff9b:1::/48"},
	{netip.MustParsePrefix("100::/64"), "discard-only space 100::/64"},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignment space 2001::/23"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation space 2001:db8::/32"},
	{netip.MustParsePrefix("2002::/16"), "6to4 space 2002::/16"},
	{netip.MustParsePrefix("3fff::/20"), "documentation space 3fff::/20"},
	{netip.MustParsePrefix("fec0::/10"), "deprecated site-local space fec0::/10"},
}

// forbiddenReason returns why ip is not a public destination, or "" if it is.
func forbiddenReason(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "not a valid address"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast():
		return "multicast"
	}
	for _, b := range specialBlocks {
		if b.prefix.Contains(ip) {
			return b.reason
		}
	}
	if !ip.IsGlobalUnicast() {
		return "not a global unicast address"
	}
	return ""
}
