package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestS3SourceHashCache: a resubmission takes an S3 source's SHA-256 from
// the cache while its ETag and size are the same, and hashes it again
// (the new content) once the object is replaced.
func TestS3SourceHashCache(t *testing.T) {
	ep, bucket := os.Getenv("S3_ENDPOINT"), os.Getenv("S3_BUCKET")
	if ep == "" || bucket == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("S3_ENDPOINT/S3_BUCKET not set: make test starts versitygw (scripts/versitygw.sh)")
		}
		t.Skip("S3_ENDPOINT/S3_BUCKET not set (source scripts/versitygw.sh && s3_start)")
	}
	_, _, q := testQueue(t)
	ctx := context.Background()
	srcs, err := NewSources(ctx, &S3Config{Endpoint: ep, Region: "us-east-1",
		AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY")})
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("queue-source-test/%d.ogg", time.Now().UnixNano())
	src := "s3://" + bucket + "/" + key
	put := func(b []byte) string {
		if _, err := srcs.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(b)}); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		return hex.EncodeToString(sum[:])
	}
	want1 := put([]byte("first version of the recording"))
	for i := range 2 {
		got, err := q.hashSource(ctx, srcs, src)
		if err != nil || got != want1 {
			t.Fatalf("hash %d: %s %v, want %s", i, got, err, want1)
		}
	}
	if _, err := q.sources.Get(ctx, func() string { s := sha256.Sum256([]byte(src)); return hex.EncodeToString(s[:16]) }()); err != nil {
		t.Fatalf("no cached hash: %v", err)
	}
	want2 := put([]byte("second version, same key, other bytes"))
	if got, err := q.hashSource(ctx, srcs, src); err != nil || got != want2 {
		t.Fatalf("after replacing the object: %s %v, want %s (a stale cached hash)", got, err, want2)
	}
}
