package blo

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Every cross-site stream source (the centre's FEED from a hub's UPLINK, a
// hub's IN from its neighbour's OUT) is a durable source: the sending side
// keeps a durable push consumer whose acknowledgements are the receiving
// stream's flow-control replies, sent only once what came before is stored
// (through RAFT at the centre). Its acknowledgement floor is therefore what
// the receiving side holds, and a source that starts again — after a
// partition, a restart, a change of stream leader — resumes from it.
//
// An ephemeral source (what these were) is created again by the receiving
// side after every partition: its request to a hub that cannot be reached
// waits 30 s for an answer and each failure adds 10 s of back-off (up to
// two minutes), so data flowed again long after the link was up; it was
// kicked by a configuration change, and started from the receiving
// stream's memory of where it was, or by time when that was gone. With a
// durable source the server asks the other side only to reset an existing
// consumer (5 s wait), and while it backs off it listens on the delivery
// subject: the first heartbeat of the consumer, which flows as soon as the
// link is back, makes it try again at once.

// SourceConsumer is the durable consumer a receiving site sources through,
// in the sending stream.
func SourceConsumer(to string) string { return "to-" + to }

// SourceDeliver is where that consumer delivers: outside kordon.> so that
// neither side's deny lists for the other's subjects catch it.
func SourceDeliver(from, to string) string { return "$KORDON.SRC." + from + "." + to }

// sourceConsumer creates (or updates) in stream the durable a receiving
// site to sources through.
func sourceConsumer(ctx context.Context, js jetstream.JetStream, stream, from, to, filter string) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	_, err = s.CreateOrUpdatePushConsumer(ctx, jetstream.ConsumerConfig{Durable: SourceConsumer(to),
		DeliverSubject: SourceDeliver(from, to), FilterSubject: filter, AckPolicy: jetstream.AckFlowControlPolicy,
		FlowControl: true, IdleHeartbeat: time.Second, MaxAckPending: 10000})
	return err
}

// durableSource is the stream source of site to, from stream in site
// from's domain, through from's consumer for it.
// The filter is the consumer's: a durable source may not have its own.
func durableSource(stream, from, to string) *jetstream.StreamSource {
	return &jetstream.StreamSource{Name: stream,
		External: &jetstream.ExternalStream{APIPrefix: "$JS." + from + ".API"},
		Consumer: &jetstream.StreamConsumerSource{Name: SourceConsumer(to), DeliverSubject: SourceDeliver(from, to)}}
}
