// Package pipeline gets recordings onto WhatsApp: inspect → transcode →
// upload → send, for one item (Pipeline.Run) or for a manifest of
// thousands (Batch), over the other packages' own types (inspect.Report,
// transcode.Result, upload.Ref, send.Message and send.Receipt, the
// providers' send.Provider, the errors *send.APIError and
// *send.InDoubtError).
//
// Build a Pipeline with New from one send client per provider account,
// those accounts' media endpoints (upload.NewMedia) and a link host
// (upload.NewS3) for Infobip; NewSandboxPipeline builds the same against a
// sandbox (pkg/sandbox, `prep sandbox`).
//
// # Stages
//
// The work is four stages, each usable on its own (a webhook receiver or a
// remote worker runs the same ones):
//
//   - Prepare(ctx, Recording, dir): inspect and transcode one source for a
//     profile (inspected once, with the transcoder's voice budget: the
//     transcoder plans from that report, transcode.Input.Report);
//     Recording.Key is its content key (SHA-256 and profile), by which a
//     batch shares the work among every row that uses it.
//   - Upload(ctx, *Prepared, provider, link): the prepared files where
//     messages through that provider fetch them (its media endpoint, or
//     the link host), one upload per content and destination. Nothing is
//     inspected twice: each file goes to the uploader with the report the
//     transcoder verified it with (transcode.Output.Report as
//     upload.File.Report), which the upload checks instead of the bytes.
//   - Send(ctx, Store, *SendRow): one row's parts, in order, each guarded
//     by a durable "sending" record in a Store before the request leaves
//     and its outcome after. The local Journal is a Store; a replicated
//     key-value store can be another. A request without an answer (an
//     in-doubt error, a sender returning no receipt or no message id, a
//     cancel while it was out) is "unknown" and never retried here.
//   - the report: a BatchResult with one RowResult per manifest row and a
//     Summary, written by WriteReportFile as JSON Lines or CSV.
//
// # Batches
//
// A batch:
//
//   - reads a manifest (CSV with a header, or JSON Lines) whose rows name a
//     recipient and a file, with optional provider, profile and
//     callback_data; invalid rows are reported with their line number and
//     skipped (ParseManifest);
//   - shares work by content: each distinct recording (SHA-256 of its bytes,
//     with its profile) is prepared once and uploaded to each destination
//     once, however many rows use it; Jobs recordings are prepared at once,
//     and each provider's rows are sent by SendWorkers workers under an
//     optional rate;
//   - keeps a Journal, append-only, fsync'd and group-committed: a row's
//     "sending" record is durable before its request leaves, and its
//     outcome ("sent" with the message id, "failed" with the reason,
//     "unknown" when the answer never came) is written after. A rerun with
//     the same journal skips sent rows; a row whose send started but has no
//     outcome is unknown and is not resent unless ResendUnknown is set.
//     Uploads are journaled too, so a rerun sends them instead of
//     uploading again. Rows are keyed by their content (recipient,
//     provider, profile, callback data, the file's SHA-256 and the
//     occurrence number of that same content), not by line number, so
//     editing the manifest never moves a state onto another row. A line
//     torn by a crash is dropped; any other line that is not a valid
//     record (blank, garbage, an unknown state, a missing or damaged key)
//     stops the batch (ErrJournalCorrupt) unless CorruptInDoubt is set;
//   - stops gracefully (Batch.Stop: no new rows, transcodes abandoned,
//     in-flight uploads and sends finished) or at once (cancel the
//     context: in-flight sends become unknown).
package pipeline
