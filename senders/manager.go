package senders

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/channel"
	"github.com/amtenant/amtenant/senders/robot"
	"github.com/amtenant/amtenant/state"
)

// Options configures a Manager.
type Options struct {
	// Template renders messages; its ExternalURL must be set.
	Template *template.Template
	// Guard applies to tenant channels.
	Guard *Guard
	// TenantLabel is added to every delivered alert with its tenant.
	TenantLabel model.LabelName
	// MaxRetryDuration bounds the retries of one notification.
	MaxRetryDuration time.Duration
	// AttemptTimeout bounds one delivery attempt, so that a hanging
	// endpoint is retried rather than waited on forever.
	AttemptTimeout time.Duration
	// RetryInitialInterval is the first backoff interval.
	RetryInitialInterval time.Duration
	// RepeatInterval is the default repeat interval: saved states of
	// channels that do not come back are forgotten after the longest one.
	RepeatInterval time.Duration
	// Leadership says whether this replica delivers; nil: it always does.
	Leadership Leadership
	// Health, when set, is told when a channel's deliveries start failing,
	// work again, or give a notification up (see SetHealth).
	Health HealthReporter
	// TakeoverWindow is how long after a batch became due a follower waits
	// to see the leader alive before it counts the batch as delivered by
	// the leader. See Leadership.
	TakeoverWindow time.Duration
	// Replication, when set, is the follower's copy of the leader's
	// notification log. See Leadership.
	Replication Replication
	// WindowFallback, when set, is called for each batch a follower
	// counted as the leader's by the takeover window, for want of the
	// leader's record (for the metric).
	WindowFallback func()
	// PollInterval, when set, is the poller's current interval, added to
	// TakeoverWindow: the leader may see an alert up to one interval after
	// the follower did, and the interval stretches with Alertmanager's
	// cost per poll.
	PollInterval func() time.Duration
	// MaxInFlight bounds the notifications of one integration being sent
	// at once (DefaultMaxInFlight when zero): the deliveries in flight, and
	// their goroutines, grow with the channels, not with the alerts.
	MaxInFlight int
	// SharedNotifications and SharedAlerts bound the notifications in
	// flight of all channels together beyond each integration's first,
	// and the alerts they list (DefaultSharedNotifications and
	// DefaultSharedAlerts when zero). See sharedInFlight.
	SharedNotifications, SharedAlerts int
	// Now is the clock; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 30 * time.Second
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.SharedNotifications <= 0 {
		o.SharedNotifications = DefaultSharedNotifications
	}
	if o.SharedAlerts <= 0 {
		o.SharedAlerts = DefaultSharedAlerts
	}
	if o.RetryInitialInterval <= 0 {
		o.RetryInitialInterval = time.Second
	}
	if o.MaxRetryDuration <= 0 {
		o.MaxRetryDuration = time.Hour
	}
	if o.RepeatInterval <= 0 {
		o.RepeatInterval = 4 * time.Hour
	}
	if o.TenantLabel == "" {
		o.TenantLabel = "tenant"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// DefaultMaxInFlight is how many notifications of one integration are sent
// at once: enough for a storm's groups to go out in a few rounds (chat
// APIs take about one message a second per webhook anyway), few enough
// that a hanging endpoint holds a handful of goroutines and that a storm
// over 100 channels holds a few hundred connections, not a thousand (each
// keeps about 30 KB of buffers, traces and goroutine stacks).
const DefaultMaxInFlight = 4

// Manager owns every channel: it builds them from specs, routes synced
// alerts to their integrations and runs their deliveries.
type Manager struct {
	opts   Options
	b      builder
	m      *metrics
	log    *slog.Logger
	shared *sharedInFlight

	mu       sync.Mutex
	global   *globalConfig
	globalID uint64
	channels map[string]*builtChannel
	invalid  map[string][]string // channel ID → types, for the metric
	restored map[string]state.Target
	// recorder is told of every change of a notification log (SetRecorder).
	recorder     func(state.Record)
	recordWanted func() bool
	// gen counts changes of the delivery state worth saving.
	gen atomic.Uint64

	started, stopped     bool
	loopCtx, sendCtx     context.Context
	stopLoop, cancelSend context.CancelFunc
	// runs tracks the targets' scheduling loops, sends the notifications
	// they start; Stop waits for the former before the latter, so that no
	// send starts once it waits.
	runs, sends sync.WaitGroup
}

type builtChannel struct {
	spec channel.Spec
	hash [32]byte
	// specHash is hash without the global defaults: whether the channel's
	// own Secret changed.
	specHash [32]byte
	types    []string
	targets  map[string]*target
	stop     context.CancelFunc
	// cancelSends cancels this version's notifications in flight: when a
	// channel is edited or deleted, retries against its old configuration
	// stop, and the alerts they held are sent again by the new version.
	// (A change of the global defaults alone lets them finish.)
	cancelSends context.CancelCauseFunc
}

// Why a channel's notifications in flight were canceled (the cause of
// their context), for the log.
var (
	errChannelChanged = errors.New("the channel's Secret changed")
	errChannelRemoved = errors.New("the channel was removed")
)

// NewManager returns a Manager with no channels. reg may be nil.
func NewManager(opts Options, reg prometheus.Registerer) *Manager {
	opts.setDefaults()
	m := &Manager{
		opts:     opts,
		shared:   newSharedInFlight(opts.SharedNotifications, opts.SharedAlerts),
		b:        builder{tmpl: opts.Template, guard: opts.Guard, log: opts.Logger, pacers: robot.NewPacers()},
		m:        newMetrics(reg),
		log:      opts.Logger,
		global:   &globalConfig{values: map[string]any{}},
		channels: map[string]*builtChannel{},
		invalid:  map[string][]string{},
		restored: map[string]state.Target{},
	}
	if reg != nil {
		reg.MustRegister(newChannelCollector(m))
		reg.MustRegister(m.shared.collectors()...)
	}
	return m
}

// HealthReporter tells users about their channel's deliveries where they
// look (Events on the channel Secret). Messages hold no secret value.
type HealthReporter interface {
	DeliveryHealth(channelID string, warning bool, reason, message string)
}

// Reasons of delivery health reports (a contract: DESIGN.md §3).
const (
	ReasonDeliveryFailing     = "DeliveryFailing"
	ReasonDeliveryRecovered   = "DeliveryRecovered"
	ReasonNotificationDropped = "NotificationDropped"
)

// SetHealth sets where delivery health is reported; call it before Start.
func (m *Manager) SetHealth(h HealthReporter) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.opts.Health = h
}

// Start starts the delivery loops; channels applied later start at once.
func (m *Manager) Start(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loopCtx, m.stopLoop = context.WithCancel(ctx)
	// Sends are not tied to ctx: at shutdown they get a grace period.
	m.sendCtx, m.cancelSend = context.WithCancel(context.WithoutCancel(ctx))
	m.started = true
	for _, c := range m.channels {
		m.startLocked(c)
	}
}

// Stop stops scheduling notifications and waits up to grace for those in
// flight, then cancels them.
func (m *Manager) Stop(grace time.Duration) {
	m.mu.Lock()
	if !m.started || m.stopped {
		m.mu.Unlock()
		return
	}
	m.stopped = true
	m.stopLoop()
	m.mu.Unlock()
	m.runs.Wait()
	done := make(chan struct{})
	go func() { m.sends.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		m.log.Warn("Shutdown grace expired; canceling notifications in flight", "grace", grace)
		m.cancelSend()
		<-done
	}
	m.cancelSend()
}

func (m *Manager) startLocked(c *builtChannel) {
	if m.stopped {
		return
	}
	ctx, stop := context.WithCancel(m.loopCtx)
	sendCtx, cancelSends := context.WithCancelCause(m.sendCtx)
	c.stop, c.cancelSends = stop, cancelSends
	for _, t := range c.targets {
		m.runs.Add(1)
		go func() {
			defer m.runs.Done()
			t.run(ctx, sendCtx, &m.sends)
		}()
	}
}

// SetGlobal sets the global defaults from the global Secret's data. On
// error the previous defaults stay in use. Channels are not rebuilt: the
// caller applies them again.
func (m *Manager) SetGlobal(data map[string][]byte) error {
	values, err := parseGlobal(data[KeyGlobal])
	if err != nil {
		return fmt.Errorf("%s", NewRedactor(string(data[KeyGlobal])).String(err.Error()))
	}
	secrets := make([]string, 0, len(data))
	for _, v := range data {
		secrets = append(secrets, string(v))
		secrets = append(secrets, yamlStrings(v)...)
	}
	m.mu.Lock()
	m.global = &globalConfig{values: values, secrets: secrets}
	m.globalID++
	m.mu.Unlock()
	return nil
}

// TypesOf returns the integration types a Secret's data declares, as far as
// they can be read, for reporting on channels that are invalid for other
// reasons.
func TypesOf(data map[string][]byte) []string {
	body, err := parseReceiver(data)
	if err != nil {
		return nil
	}
	return body.types()
}

// Apply builds or rebuilds a channel. It returns the channel's integration
// types and, if the channel is invalid, why. An invalid update of a working
// channel leaves the previous configuration delivering: a typo must not
// silence a team.
//
// Building (parsing, Alertmanager's config load, finding the field at
// fault) happens without the manager's lock, so that a large or broken
// Secret never delays the polls' syncs nor other channels' deliveries.
func (m *Manager) Apply(spec channel.Spec) ([]string, error) {
	for {
		m.mu.Lock()
		h := m.hash(spec)
		old := m.channels[spec.ID]
		if old != nil && old.hash == h {
			if _, wasInvalid := m.invalid[spec.ID]; wasInvalid {
				// Reverted to the configuration that runs.
				delete(m.invalid, spec.ID)
				m.updateGaugeLocked()
			}
			m.mu.Unlock()
			return old.types, nil
		}
		global, globalID := m.global, m.globalID
		m.mu.Unlock()

		integs, types, err := m.b.build(spec, global)

		m.mu.Lock()
		if m.globalID != globalID {
			// The global defaults changed while building: build again.
			m.mu.Unlock()
			continue
		}
		defer m.mu.Unlock()
		return m.installLocked(spec, h, integs, types, err)
	}
}

// installLocked puts a built channel in place of its previous version.
func (m *Manager) installLocked(spec channel.Spec, h [32]byte, integs []integration, types []string, err error) ([]string, error) {
	old := m.channels[spec.ID]
	if err != nil {
		m.invalid[spec.ID] = types
		m.updateGaugeLocked()
		if old != nil {
			return types, fmt.Errorf("%w (the previous configuration keeps delivering)", err)
		}
		return types, err
	}
	delete(m.invalid, spec.ID)
	red := redactorFor(spec, m.global)
	c := &builtChannel{spec: spec, hash: h, types: types, targets: map[string]*target{}}
	for _, in := range integs {
		var d *dispatch
		if old != nil {
			if ot, ok := old.targets[in.key()]; ok {
				// Keep what was already told, so that editing a Secret does
				// not notify every firing alert again.
				d = ot.d
				d.mu.Lock()
				d.setPolicy(spec.Policy, m.opts.Now())
				d.setLimits(spec.Limits, m.opts.Now())
				d.setSendResolved(in.SendResolved())
				// What failed may work now.
				d.retryFailed(m.opts.Now())
				d.mu.Unlock()
			}
		}
		if d == nil {
			d = newDispatch(spec.Policy, in.SendResolved())
			d.shared = m.shared
			d.setLimits(spec.Limits, m.opts.Now())
			d.gen = &m.gen
			d.emit = m.emitterLocked(spec.ID, in.key())
			m.gen.Add(1)
			if st, ok := m.takeRestoredLocked(spec.ID, in.key()); ok {
				d.restore(st)
			}
		}
		c.targets[in.key()] = newTarget(spec.ID, in, d, red, &m.opts, m.m, m.log)
	}
	// The channel's own version: what its Secret says. Limits and the
	// tenant come from elsewhere (an admin's override, a namespace's
	// label); a change of those lets notifications in flight finish.
	own := spec
	own.Limits, own.Tenant = channel.Limits{}, ""
	c.specHash = m.hashOf(own, 0)
	if old != nil && old.stop != nil {
		old.stop()
		if old.specHash != c.specHash {
			old.cancelSends(errChannelChanged)
		}
		// Only the global defaults changed: what the old version is
		// sending finishes (a notification canceled half-way could arrive
		// twice); the new version takes over the schedule.
	}
	m.channels[spec.ID] = c
	if m.started {
		m.startLocked(c)
	}
	m.updateGaugeLocked()
	return types, nil
}

// Remove deletes a channel and cancels its notifications in flight.
func (m *Manager) Remove(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.channels[id]; ok {
		if c.stop != nil {
			c.stop()
			c.cancelSends(errChannelRemoved)
		}
		delete(m.channels, id)
		m.gen.Add(1)
	}
	delete(m.invalid, id)
	m.updateGaugeLocked()
}

// Refuse deletes a channel that a limit refuses and counts it as invalid,
// with the types its data declares.
func (m *Manager) Refuse(id string, data map[string][]byte) {
	m.Remove(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.invalid[id] = TypesOf(data)
	m.updateGaugeLocked()
}

// Sync hands each channel the incarnations routed to it; channels missing
// from byChannel get none.
func (m *Manager) Sync(now time.Time, byChannel map[string][]*alert.Incarnation) {
	m.mu.Lock()
	targets := make([]*target, 0, len(m.channels))
	incs := make([][]*alert.Incarnation, 0, len(m.channels))
	for id, c := range m.channels {
		for _, t := range c.targets {
			targets = append(targets, t)
			incs = append(incs, byChannel[id])
		}
	}
	m.mu.Unlock()
	for i, t := range targets {
		t.sync(now, incs[i])
	}
}

func (m *Manager) hash(spec channel.Spec) [32]byte { return m.hashOf(spec, m.globalID) }

func (m *Manager) hashOf(spec channel.Spec, globalID uint64) [32]byte {
	h := sha256.New()
	// The mute windows as Alertmanager writes them (their locations are
	// pointers, which %v would print as addresses).
	mute, _ := yaml.Marshal(spec.Policy.Mute)
	fmt.Fprintf(h, "%s\x00%t\x00%d\x00%v\x00%v\x00%v\x00%v\x00%v\x00%v\x00%s\x00%s\x00%+v\x00", spec.ID, spec.Trusted, globalID,
		spec.Policy.Matchers, spec.Policy.GroupBy, spec.Policy.GroupByAll, spec.Policy.GroupWait, spec.Policy.GroupInterval, spec.Policy.RepeatInterval, mute,
		spec.Tenant, spec.Limits)
	keys := make([]string, 0, len(spec.Data))
	for k := range spec.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%d\x00", k, len(spec.Data[k]))
		h.Write(spec.Data[k])
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// updateGaugeLocked recomputes amtenant_channels. Every series is set,
// none reset, so that a scrape never sees a partial count.
func (m *Manager) updateGaugeLocked() {
	known := append(KnownTypes(), unknownTypeLabel)
	counts := map[[2]string]float64{}
	count := func(types []string, state string) {
		if len(types) == 0 {
			types = []string{unknownTypeLabel}
		}
		for _, t := range types {
			if !slices.Contains(known, t) {
				t = unknownTypeLabel
			}
			counts[[2]string{t, state}]++
		}
	}
	for _, c := range m.channels {
		count(c.types, stateValid)
	}
	for _, types := range m.invalid {
		count(types, stateInvalid)
	}
	for _, t := range known {
		for _, st := range []string{stateValid, stateInvalid} {
			if t == unknownTypeLabel && st == stateValid {
				continue // a channel of unknown type is never valid
			}
			m.m.channels.WithLabelValues(t, st).Set(counts[[2]string{t, st}])
		}
	}
}
