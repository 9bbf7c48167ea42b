package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/numberprompt"
)

// page shows the verification's current state. Opening a link binds the
// verification to this browser (see engine.Open); the browser cookie is
// created when missing and its lifetime renewed on every visit.
func (s *Server) page(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead {
		// A HEAD request (a link checker) must not bind the verification.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		return nil
	}
	token := r.PathValue("token")
	key := browserKey(r)
	if key == "" {
		key = newBrowserKey()
	}
	s.setBrowserCookie(w, key)
	addr := clientAddr(r)
	v, err := s.Engine.Open(r.Context(), token, key, addr, r.UserAgent())
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		if v.Status.Terminal() {
			if v.RedirectURL != "" {
				to, err := redirectTarget(v)
				if err != nil {
					return err
				}
				http.Redirect(w, r, to, http.StatusSeeOther)
				return nil
			}
			s.render(w, http.StatusOK, "end.html", endPage(v))
			return nil
		}
		view := s.Engine.ViewOf(v, nil, nil)
		var pairing *engine.Pairing
		if h := view.Handover; h != nil && !h.Paired && !needsWebLocation(h) {
			// A hand-over waits for a phone: every page shows a new code
			// (once this computer's location is recorded, when the
			// phone's steps compare locations).
			pairing, err = s.Engine.NewPairing(r.Context(), token, key, addr)
			if tandem.ErrorCode(err) == tandem.ECONFLICT {
				// The hand-over moved on since v was read (a phone
				// joined, the link expired): show the new state, once.
				if attempt == 0 {
					if v, err = s.Engine.Lookup(r.Context(), token, key, addr); err != nil {
						return err
					}
					continue
				}
				pairing, err = nil, nil
			}
			if err != nil {
				return err
			}
		}
		return s.renderStep(w, token, v, view, pairing, http.StatusOK, 0, nil)
	}
}

// submit takes a web step's form. It answers with a redirect to the page
// (post/redirect/get) once the step moved on or when the step is no longer
// the current one, and with the step page again (422) when the input needs
// correction.
func (s *Server) submit(w http.ResponseWriter, r *http.Request) error {
	token := r.PathValue("token")
	index, err := strconv.Atoi(r.PathValue("index"))
	if err != nil || index < 0 {
		return errBadStep
	}
	values, err := readForm(w, r)
	if err != nil {
		return err
	}
	key, addr := browserKey(r), clientAddr(r)
	_, err = s.Engine.Submit(r.Context(), token, key, index, values, addr)
	var retry *engine.RetryError
	switch {
	case err == nil:
		http.Redirect(w, r, pagePath(token), http.StatusSeeOther)
		return nil
	case tandem.ErrorCode(err) == tandem.ECONFLICT:
		// Not the current step: a step of this verification that is done
		// (a second tab, a double submit) shows the current page; a step
		// that does not exist is a bad address.
		v, lerr := s.Engine.Lookup(r.Context(), token, key, addr)
		if lerr != nil {
			return lerr
		}
		if index >= len(v.Steps) {
			return errBadStep
		}
		http.Redirect(w, r, pagePath(token), http.StatusSeeOther)
		return nil
	case errors.As(err, &retry):
		v, err := s.Engine.Lookup(r.Context(), token, key, addr)
		if err != nil {
			return err
		}
		view := s.Engine.ViewOf(v, retry.Values, retry.Fields)
		if view.Step != index {
			// The state moved on meanwhile (e.g. the link expired).
			http.Redirect(w, r, pagePath(token), http.StatusSeeOther)
			return nil
		}
		return s.renderStep(w, token, v, view, nil, http.StatusUnprocessableEntity, retry.AttemptsLeft, retry.Fields)
	}
	return err
}

var errBadStep = tandem.Errorf(tandem.EINVALID, "The step number in the address is not valid.")

// readForm reads a form post of at most MaxFormBytes, MaxFormFields
// values and MaxFieldBytes per value, URL-encoded and valid UTF-8. It
// returns the first value of each field.
func readForm(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return nil, tandem.Errorf(tandem.EINVALID, "The form was not sent as a web form.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tandem.Errorf(tandem.EINVALID, "The form is too large.")
		}
		return nil, tandem.Errorf(tandem.EINVALID, "The form could not be read.")
	}
	n := 0
	for _, vs := range r.PostForm {
		n += len(vs)
	}
	if n > MaxFormFields {
		return nil, tandem.Errorf(tandem.EINVALID, "The form has too many fields.")
	}
	values := make(map[string]string, len(r.PostForm))
	for k, vs := range r.PostForm {
		for _, v := range vs {
			if len(v) > MaxFieldBytes {
				return nil, tandem.Errorf(tandem.EINVALID, "A field of the form is too long.")
			}
			if !utf8.ValidString(v) || !utf8.ValidString(k) {
				return nil, tandem.Errorf(tandem.EINVALID, "The form holds characters that are not valid text.")
			}
		}
		values[k] = vs[0]
	}
	return values, nil
}

// browserKey returns the browser's cookie value, or "" when it has none or
// one this server did not make.
func browserKey(r *http.Request) string {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return ""
	}
	if b, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil || len(b) != 32 {
		return ""
	}
	return c.Value
}

// newBrowserKey returns 256 bits from crypto/rand, base64url.
func newBrowserKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) setBrowserCookie(w http.ResponseWriter, key string) {
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    key,
		Path:     "/v/",
		MaxAge:   cookieMaxAge,
		HttpOnly: true,
		Secure:   s.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
}

func pagePath(token string) string { return "/v/" + url.PathEscape(token) }

// redirectTarget is the verification's redirect URL with request_id and
// status set in its query; its other query parameters are kept.
func redirectTarget(v *tandem.Verification) (string, error) {
	u, err := url.Parse(v.RedirectURL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("request_id", v.ID)
	q.Set("status", string(v.Status))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// redirectOrigin returns the origin of the verification's redirect URL for
// the pages' form-action, or "" when there is none or it cannot be put in
// a policy safely.
func redirectOrigin(v *tandem.Verification) string {
	if v.RedirectURL == "" {
		return ""
	}
	u, err := url.Parse(v.RedirectURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		strings.ContainsAny(u.Host, " \t\r\n;,'\"") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// pageData is what every page template gets; one of Step, End and Error
// is set.
type pageData struct {
	Title string
	// BindingMessage is the message of the site that started the
	// verification (OpenID CIBA binding_message), shown in the header so
	// that the person can check that both show the same.
	BindingMessage string
	// Refresh, when not 0, reloads the page after that many seconds in a
	// browser without JavaScript (app.js keeps other pages current).
	Refresh int
	// Live is set on pages that follow the verification's state.
	Live  *liveData
	Step  *stepData
	End   *endData
	Error *errorData
}

type liveData struct {
	Events  string // URL of the event stream
	Page    string // URL of the page
	Version int64  // the verification's version the page shows
}

type stepData struct {
	Number, Count int
	Name          string
	Steps         []stepItem
	Action        string
	Nodes         []nodeView
	FormErrors    []string
	SubmitLabel   string
	Waiting       string
	Page          string
	// AttemptsLeft is shown when it is low.
	AttemptsLeft int
	// Handover is set while a web_to_device step runs.
	Handover *handoverData
}

// stepItem is a step in the progress list. Only web-side steps are items;
// the steps done on the phone are the Sub items of their hand-over.
type stepItem struct {
	Name    string
	State   string // done, current, pending, skipped, failed
	Label   string // the state in words
	Current bool
	Sub     []stepItem
}

// nodeView is a module.Node with the ids that tie a field to its label,
// hint and error.
type nodeView struct {
	module.Node
	ID, HintID, ErrorID, DescribedBy string
	Autofocus                        bool
}

type endData struct {
	Status     tandem.Status
	Heading    string
	Paragraphs []string
}

type errorData struct {
	Status     int
	Heading    string
	Paragraphs []string
}

// renderStep writes the page of the verification's current step: the
// progress, and the step's form or what it waits for. pairing is the code
// a hand-over that waits for a phone shows (nil otherwise). attemptsLeft
// and errs come from a submission that needs correction (0 and nil
// otherwise); view's form already holds the errors of its fields.
func (s *Server) renderStep(w http.ResponseWriter, token string, v *tandem.Verification, view engine.View, pairing *engine.Pairing, status, attemptsLeft int, errs []tandem.FieldError) error {
	d := &stepData{
		Action:      pagePath(token) + "/steps/" + strconv.Itoa(view.Step),
		SubmitLabel: view.SubmitLabel,
		Waiting:     view.Waiting,
		Page:        pagePath(token),
	}
	if d.SubmitLabel == "" {
		d.SubmitLabel = "Continue"
	}
	if view.Step >= 0 && view.Step < len(v.Steps) {
		d.Name = v.Steps[view.Step].DisplayName
	}
	d.Steps, d.Number, d.Count = progress(v, view.Step)
	refresh := 0
	if view.Handover != nil {
		h, n, err := handoverPage(token, view.Handover, pairing, s.Now())
		if err != nil {
			return err
		}
		d.Handover, refresh = h, n
	}
	if attemptsLeft > 0 && attemptsLeft < 3 {
		d.AttemptsLeft = attemptsLeft
	}
	d.Nodes = nodeViews(view.Form)
	d.FormErrors = otherErrors(d.Nodes, errs)
	hasError := len(d.FormErrors) > 0
	for _, n := range d.Nodes {
		hasError = hasError || n.Error != ""
	}

	title := "Step " + strconv.Itoa(d.Number) + " of " + strconv.Itoa(d.Count) + ": " + d.Name
	if hasError {
		title = "Error: " + title
	}
	p := &pageData{
		Title:          title,
		BindingMessage: v.Web.BindingMessage,
		Refresh:        refresh,
		Live:           &liveData{Events: pagePath(token) + "/events", Page: pagePath(token), Version: v.Version},
		Step:           d,
	}
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy(redirectOrigin(v)))
	s.render(w, status, "step.html", p)
	return nil
}

// progress returns the progress list of v, whose current step is the one
// at index current, and that step's number among the count steps of the
// list. The list and the count hold the web-side steps only: the steps
// done on the phone are listed under the hand-over that runs them.
func progress(v *tandem.Verification, current int) (items []stepItem, number, count int) {
	at := map[int]int{} // index of a web-side step → its position in items
	for i, st := range v.Steps {
		if st.Side == engine.SideDevice {
			if k, ok := at[st.Group]; ok {
				items[k].Sub = append(items[k].Sub, deviceItem(st))
				continue
			}
		}
		count++
		item := stepItem{Name: st.DisplayName}
		switch {
		case i == current:
			number = count
			item.State, item.Label, item.Current = "current", "Current step", true
		case st.Status == tandem.StepPassed:
			item.State, item.Label = "done", "Done"
		case st.Status == tandem.StepSkipped:
			item.State, item.Label = "skipped", "Skipped"
		case st.Status == tandem.StepFailed:
			item.State, item.Label = "failed", "Failed"
		default:
			item.State, item.Label = "pending", "To do"
		}
		at[i] = len(items)
		items = append(items, item)
	}
	return items, number, count
}

// deviceItem is a step done on the phone, in the progress list.
func deviceItem(st tandem.Step) stepItem {
	item := stepItem{Name: st.DisplayName}
	switch st.Status {
	case tandem.StepRunning:
		item.State, item.Label = "current", "On your phone now"
	case tandem.StepPassed:
		item.State, item.Label = "done", "Done"
	case tandem.StepSkipped:
		item.State, item.Label = "skipped", "Skipped"
	case tandem.StepFailed:
		item.State, item.Label = "failed", "Failed"
	default:
		item.State, item.Label = "pending", "To do"
	}
	return item
}

// nodeViews gives every input its ids and marks the field to focus: the
// first field in error, else the first field.
func nodeViews(nodes []module.Node) []nodeView {
	out := make([]nodeView, len(nodes))
	focus, firstInput := -1, -1
	for i, n := range nodes {
		nv := nodeView{Node: n}
		if n.Kind == "input" {
			nv.ID = "f-" + fieldID(n.Name)
			var desc []string
			if n.Hint != "" {
				nv.HintID = nv.ID + "-hint"
				desc = append(desc, nv.HintID)
			}
			if n.Error != "" {
				nv.ErrorID = nv.ID + "-error"
				desc = append(desc, nv.ErrorID)
				if focus < 0 {
					focus = i
				}
			}
			nv.DescribedBy = strings.Join(desc, " ")
			if firstInput < 0 {
				firstInput = i
			}
		}
		out[i] = nv
	}
	if focus < 0 {
		focus = firstInput
	}
	if focus >= 0 {
		out[focus].Autofocus = true
	}
	return out
}

// otherErrors returns the messages of errs that no field of the form
// shows: errors about a field that shows no error (or that the form does
// not have), and errors about no field when no field shows an error
// (modules fold those into a field's error).
func otherErrors(nodes []nodeView, errs []tandem.FieldError) []string {
	inputs := map[string]bool{} // name → the field shows an error
	shown := false
	for _, n := range nodes {
		if n.Kind == "input" {
			inputs[n.Name] = n.Error != ""
			shown = shown || n.Error != ""
		}
	}
	var out []string
	for _, e := range errs {
		if inputs[e.Path] || (e.Path == "" && shown) {
			continue
		}
		out = append(out, e.Message)
	}
	return out
}

// fieldID turns a field name into the part of an HTML id: letters, digits,
// '-' and '_' are kept, anything else becomes '_'.
func fieldID(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, name)
}

// endPage describes a verification that has ended.
func endPage(v *tandem.Verification) *pageData {
	d := &endData{Status: v.Status}
	var title string
	switch v.Status {
	case tandem.StatusCompleted:
		title, d.Heading = "Verification complete", "Verification complete"
		d.Paragraphs = []string{"Thank you. Your verification is complete.", "You can close this page."}
	case tandem.StatusFailed:
		title, d.Heading = "Verification failed", "Verification failed"
		d.Paragraphs = []string{failureReason(v.Reason), "If you think this is a mistake, go back to the site that sent you here and start again."}
	case tandem.StatusExpired:
		title, d.Heading = "Link expired", "This link has expired"
		d.Paragraphs = []string{"The verification was not finished in time.", "Go back to the site that sent you here to get a new link."}
	case tandem.StatusCancelled:
		title, d.Heading = "Verification cancelled", "This verification was cancelled"
		d.Paragraphs = []string{"The site that sent you here cancelled it. Go back there if you need to start again."}
	}
	return &pageData{Title: title, End: d}
}

// failureReasons are the plain words of the failure reasons that modules
// give as bare codes.
var failureReasons = map[string]string{
	numberprompt.ReasonTimeout: "The time to pick the number ran out.",
}

// failureReason is why a verification failed, in plain words: the
// reason the failed step gave (e.g. "The numbers did not match.", or how
// far the phone was from this computer), with bare codes put in words.
func failureReason(reason string) string {
	if reason == "" {
		return "A step of the verification did not succeed."
	}
	if words, ok := failureReasons[reason]; ok {
		return words
	}
	return reason
}
