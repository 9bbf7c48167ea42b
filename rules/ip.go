package rules

import (
	"fmt"
	"net/netip"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// Names of the IP functions.
const (
	fnIPIn    = "ip_in"
	fnIPInAny = "ip_in_any"
)

// ipFunctions declares and binds ip_in and ip_in_any; see NewEnv.
func ipFunctions() cel.EnvOption {
	return cel.Lib(ipLib{})
}

type ipLib struct{}

func (ipLib) CompileOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function(fnIPIn,
			cel.Overload("ip_in_string_string",
				[]*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(ipIn))),
		cel.Function(fnIPInAny,
			cel.Overload("ip_in_any_string_list_string",
				[]*cel.Type{cel.StringType, cel.ListType(cel.StringType)}, cel.BoolType,
				cel.BinaryBinding(ipInAny))),
	}
}

func (ipLib) ProgramOptions() []cel.ProgramOption { return nil }

func ipIn(ipVal, cidrVal ref.Val) ref.Val {
	ip, ok := ipVal.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(ipVal)
	}
	cidr, ok := cidrVal.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(cidrVal)
	}
	prefix, err := parseCIDR(fnIPIn, string(cidr))
	if err != nil {
		return types.WrapErr(err)
	}
	addr, ok := parseIP(string(ip))
	return types.Bool(ok && prefix.Contains(addr))
}

func ipInAny(ipVal, cidrsVal ref.Val) ref.Val {
	ip, ok := ipVal.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(ipVal)
	}
	cidrs, ok := cidrsVal.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(cidrsVal)
	}
	addr, addrOK := parseIP(string(ip))
	// Every CIDR is parsed, even after a match, so that a malformed one is
	// an error whatever the ip.
	found := false
	for it := cidrs.Iterator(); it.HasNext() == types.True; {
		elem := it.Next()
		cidr, ok := elem.(types.String)
		if !ok {
			return types.MaybeNoSuchOverloadErr(elem)
		}
		prefix, err := parseCIDR(fnIPInAny, string(cidr))
		if err != nil {
			return types.WrapErr(err)
		}
		if addrOK && prefix.Contains(addr) {
			found = true
		}
	}
	return types.Bool(found)
}

// parseIP parses an IP address for matching: IPv4-mapped IPv6 addresses
// become IPv4 and zones are dropped.
func parseIP(s string) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.WithZone("").Unmap(), true
}

// parseCIDR parses a CIDR prefix such as "10.0.0.0/8" or "2001:db8::/32".
// An IPv4-mapped IPv6 prefix of at least 96 bits becomes the IPv4 prefix it
// covers, so that it matches the unmapped addresses parseIP returns.
func parseCIDR(fn, s string) (netip.Prefix, error) {
	prefix, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s: invalid CIDR %q", fn, s)
	}
	if a := prefix.Addr(); a.Is4In6() && prefix.Bits() >= 96 {
		prefix = netip.PrefixFrom(a.Unmap(), prefix.Bits()-96)
	}
	return prefix.Masked(), nil
}

// cidrLiteralValidator refuses, at compile time, malformed CIDR literals
// given to ip_in and ip_in_any: a string literal second argument of ip_in,
// and the string literal elements of a list literal second argument of
// ip_in_any.
type cidrLiteralValidator struct{}

func (cidrLiteralValidator) Name() string { return "tandem.validator.cidr_literals" }

func (cidrLiteralValidator) Validate(_ *cel.Env, _ cel.ValidatorConfig, a *ast.AST, iss *cel.Issues) {
	root := ast.NavigateAST(a)
	check := func(fn string, lit ast.Expr) {
		if lit.Kind() != ast.LiteralKind {
			return
		}
		s, ok := lit.AsLiteral().(types.String)
		if !ok {
			return
		}
		if _, err := parseCIDR(fn, string(s)); err != nil {
			iss.ReportErrorAtID(lit.ID(), "%s", err.Error())
		}
	}
	for _, call := range ast.MatchDescendants(root, ast.FunctionMatcher(fnIPIn)) {
		if args := call.AsCall().Args(); len(args) == 2 {
			check(fnIPIn, args[1])
		}
	}
	for _, call := range ast.MatchDescendants(root, ast.FunctionMatcher(fnIPInAny)) {
		args := call.AsCall().Args()
		if len(args) != 2 || args[1].Kind() != ast.ListKind {
			continue
		}
		for _, elem := range args[1].AsList().Elements() {
			check(fnIPInAny, elem)
		}
	}
}
