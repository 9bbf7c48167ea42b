package bench

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheckTarget(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string // "" when accepted
	}{
		{"http://127.0.0.1:8080", ""},
		{"http://127.9.8.7:8080/", ""},
		{"https://[::1]:8443", ""},
		{"http://localhost:8080", ""},
		{"http://[::ffff:127.0.0.1]:80", ""},
		{"http://10.0.0.1:8080", "loopback"},
		{"http://192.168.1.5", "loopback"},
		{"https://verify.example.com", "loopback"},
		{"http://0.0.0.0:8080", "loopback"},
		{"ftp://127.0.0.1", "base URL"},
		{"127.0.0.1:8080", "base URL"},
		{"http://u:p@127.0.0.1", "base URL"},
		{"http://127.0.0.1/?x=1", "base URL"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			_, err := CheckTarget(tc.url)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one that says %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseMix(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]int
		wantErr bool
	}{
		{"full=1", map[string]int{"full": 1}, false},
		{"full=3, web=1", map[string]int{"full": 3, "web": 1}, false},
		{"web", map[string]int{"web": 1}, false},
		{"full=0,web=2", map[string]int{"full": 0, "web": 2}, false},
		{"push=1", nil, true},
		{"full=x", nil, true},
		{"full=-1", nil, true},
		{"", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMix(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); !tc.wantErr && diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if got, want := mixSequence(map[string]int{"web": 1, "full": 2}), []string{"full", "full", "web"}; !cmp.Equal(got, want) {
		t.Errorf("mixSequence = %v, want %v", got, want)
	}
}

func TestParsePage(t *testing.T) {
	tests := []struct {
		name string
		html string
		want page
	}{
		{"form", `<main id="main" data-events="/v/tok/events" data-page="/v/tok" data-version="3">
<form method="post" action="/v/tok/steps/0" class="step-form">
<input type="text" id="f-aadhaar_number" name="aadhaar_number" value="" spellcheck="false">`,
			page{events: "/v/tok/events", path: "/v/tok", version: 3, live: true, formAction: "/v/tok/steps/0", inputs: []string{"aadhaar_number"}}},
		{"location", `<main id="main" data-events="/v/t/events" data-page="/v/t" data-version="4">
<section class="handover handover-location" aria-labelledby="handover-heading" data-location="/v/t/location">`,
			page{events: "/v/t/events", path: "/v/t", version: 4, live: true, locationPath: "/v/t/location"}},
		{"pairing", `<main id="main" data-events="/v/t/events" data-page="/v/t" data-version="5">
<input type="text" id="pairing-link" class="copy-source" value="http://127.0.0.1:8080/d/abc&#43;d" readonly>`,
			page{events: "/v/t/events", path: "/v/t", version: 5, live: true, pairingURL: "http://127.0.0.1:8080/d/abc+d"}},
		{"number", `<main id="main" data-events="/v/t/events" data-page="/v/t" data-version="7">
<p class="big-number" aria-live="assertive">42</p>`,
			page{events: "/v/t/events", path: "/v/t", version: 7, live: true, number: "42"}},
		{"end", `<main id="main">
<div class="end end-completed" data-status="completed">`, page{end: "completed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parsePage([]byte(tc.html))
			if diff := cmp.Diff(&tc.want, got, cmp.AllowUnexported(page{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\ttandem\nVmPeak:\t  900000 kB\nVmRSS:\t   51234 kB\nThreads:\t8\n"
	got, err := parseVmRSS([]byte(status))
	if err != nil || got != 51234*1024 {
		t.Errorf("parseVmRSS = %d, %v; want %d", got, err, 51234*1024)
	}
	if _, err := parseVmRSS([]byte("Name:\tx\n")); err == nil {
		t.Error("no error for a status without VmRSS")
	}
}

func TestListeningInodes(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 333 1 0000000000000000 100 0 0 10 0
`
	if got, want := listeningInodes([]byte(table), 8080), []string{"111"}; !cmp.Equal(got, want) {
		t.Errorf("listeningInodes(8080) = %v, want %v (the listening socket, not the connection)", got, want)
	}
	if got := listeningInodes([]byte(table), 9999); got != nil {
		t.Errorf("listeningInodes(9999) = %v, want none", got)
	}
}

func TestSourceAddrs(t *testing.T) {
	u, _ := CheckTarget("http://127.0.0.1:8080")
	got := sourceAddrs(u, 3)
	var s []string
	for _, a := range got {
		s = append(s, a.String())
	}
	if want := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}; !cmp.Equal(s, want) {
		t.Errorf("sourceAddrs = %v, want %v", s, want)
	}
	u6, _ := CheckTarget("http://[::1]:8080")
	if got := sourceAddrs(u6, 3); len(got) != 1 || got[0].String() != "::1" {
		t.Errorf("sourceAddrs for ::1 = %v, want [::1]", got)
	}
}
