// Package pipeline gets recordings onto WhatsApp in one call: inspect →
// transcode → upload → send, for one item (Pipeline.Run) or for a manifest
// of thousands (Batch).
//
// The stages are small consumer-side interfaces (Transcoder, Uploader,
// Sender, InspectFunc) with pipeline-local request and result types, so the
// package can be driven by fakes in tests and by the real packages
// (transcode, upload, send) through the thin adapters in adapters.go.
//
// A batch:
//
//   - reads a manifest (CSV with a header, or JSON Lines) whose rows name a
//     recipient and a file, with optional provider, profile and
//     callback_data; invalid rows are reported with their line number and
//     skipped (ParseManifest);
//   - shares work by content: each distinct recording (SHA-256 of its bytes,
//     with its profile) is inspected, transcoded and uploaded to each
//     destination once, however many rows use it; transcoding runs on Jobs
//     workers, sending on its own workers per provider under an optional
//     per-provider rate;
//   - keeps a Journal, append-only and fsync'd: a row's "sending" record is
//     durable before its request leaves, and its outcome ("sent" with the
//     message id, "failed" with the reason, "unknown" when the answer never
//     came) is written after. A rerun with the same journal skips sent rows;
//     a row whose send started but has no outcome (the process died) is
//     unknown and is not resent unless ResendUnknown is set. Rows are keyed
//     by their content (recipient, provider, profile, callback data, the
//     file's SHA-256 and the occurrence number of that same content), not by
//     line number, so inserting or removing manifest lines never moves a
//     state onto another row;
//   - stops gracefully (Batch.Stop: no new rows, transcodes abandoned,
//     in-flight sends finished) or at once (cancel the context: in-flight
//     sends become unknown);
//   - returns one RowResult per manifest row and a Summary, which
//     WriteReportFile writes as JSON Lines or CSV.
package pipeline
