//! proto: what does a remote-write request hold on the wire?
//!
//! The messages of Prometheus' remote-write protocol 1.0 (its `prompb` package), written out
//! with their field numbers: a [`WriteRequest`] of [`TimeSeries`], each with its sorted
//! [`Label`]s, its [`Sample`]s and its [`Exemplar`]s, and the [`MetricMetadata`] of the
//! families. A request is the encoded `WriteRequest`, snappy-compressed in the block format.

/// A remote-write request.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WriteRequest {
    /// The series and their samples.
    #[prost(message, repeated, tag = "1")]
    pub(crate) timeseries: Vec<TimeSeries>,
    /// The type of each metric family.
    #[prost(message, repeated, tag = "3")]
    pub(crate) metadata: Vec<MetricMetadata>,
}

/// One series: its labels, sorted by name, `__name__` among them.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TimeSeries {
    /// The labels.
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    /// The samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub(crate) samples: Vec<Sample>,
    /// The exemplars, oldest first.
    #[prost(message, repeated, tag = "3")]
    pub(crate) exemplars: Vec<Exemplar>,
}

/// A label.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub(crate) struct Label {
    /// Its name.
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    /// Its value.
    #[prost(string, tag = "2")]
    pub(crate) value: String,
}

/// A sample.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub(crate) struct Sample {
    /// Its value.
    #[prost(double, tag = "1")]
    pub(crate) value: f64,
    /// Its time, unix milliseconds.
    #[prost(int64, tag = "2")]
    pub(crate) timestamp: i64,
}

/// An exemplar: the trace behind a sample.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Exemplar {
    /// Its labels (the trace ID).
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    /// The value it observed.
    #[prost(double, tag = "2")]
    pub(crate) value: f64,
    /// When, unix milliseconds.
    #[prost(int64, tag = "3")]
    pub(crate) timestamp: i64,
}

/// The type of a metric family.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct MetricMetadata {
    /// A [`MetricType`].
    #[prost(enumeration = "MetricType", tag = "1")]
    pub(crate) r#type: i32,
    /// The family's name (a histogram's without `_bucket`).
    #[prost(string, tag = "2")]
    pub(crate) metric_family_name: String,
    /// Its help text.
    #[prost(string, tag = "4")]
    pub(crate) help: String,
    /// Its unit.
    #[prost(string, tag = "5")]
    pub(crate) unit: String,
}

/// Prometheus' metric types, as numbered in `MetricMetadata.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum MetricType {
    /// Unknown.
    Unknown = 0,
    /// A counter.
    Counter = 1,
    /// A gauge.
    Gauge = 2,
    /// A histogram.
    Histogram = 3,
}

impl Label {
    /// A label of `name` and `value`.
    pub(crate) fn new(name: impl Into<String>, value: impl Into<String>) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// The body of a request: `request` encoded, then snappy-compressed (block format).
pub(crate) fn encode(request: &WriteRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(request);
    // Compressing a buffer in memory fails only past snap's maximum input (about 4 GiB);
    // requests are cut far below that.
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

/// The request of a body made by [`encode`].
#[cfg(test)]
pub(crate) fn decode(body: &[u8]) -> Option<WriteRequest> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).ok()?;
    prost::Message::decode(raw.as_slice()).ok()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn label() -> impl Strategy<Value = Label> {
        ("[a-zA-Z_]{1,8}", "\\PC{0,12}").prop_map(|(n, v)| Label::new(n, v))
    }

    fn series() -> impl Strategy<Value = TimeSeries> {
        (
            proptest::collection::vec(label(), 0..5),
            proptest::collection::vec((any::<f64>(), any::<i64>()), 0..4),
            proptest::collection::vec(
                (
                    proptest::collection::vec(label(), 0..2),
                    any::<f64>(),
                    any::<i64>(),
                ),
                0..2,
            ),
        )
            .prop_map(|(labels, samples, exemplars)| TimeSeries {
                labels,
                samples: samples
                    .into_iter()
                    .map(|(value, timestamp)| Sample { value, timestamp })
                    .collect(),
                exemplars: exemplars
                    .into_iter()
                    .map(|(labels, value, timestamp)| Exemplar {
                        labels,
                        value,
                        timestamp,
                    })
                    .collect(),
            })
    }

    proptest! {
        #[test]
        fn requests_decode_as_encoded(timeseries in proptest::collection::vec(series(), 0..6)) {
            let request = WriteRequest { timeseries, metadata: Vec::new() };
            let decoded = decode(&encode(&request)).unwrap();
            // NaN is never equal to itself: compare the bits. A -0 is sent as proto3's
            // default, 0, which equals it.
            let bits = |r: &WriteRequest| -> Vec<Vec<u64>> {
                r.timeseries
                    .iter()
                    .map(|s| s.samples.iter().map(|x| (x.value + 0.0).to_bits()).collect())
                    .collect()
            };
            prop_assert_eq!(bits(&decoded), bits(&request));
            prop_assert_eq!(decoded.timeseries.len(), request.timeseries.len());
            for (a, b) in decoded.timeseries.iter().zip(&request.timeseries) {
                prop_assert_eq!(&a.labels, &b.labels);
                prop_assert_eq!(a.exemplars.len(), b.exemplars.len());
                let times: Vec<i64> = a.samples.iter().map(|s| s.timestamp).collect();
                let sent: Vec<i64> = b.samples.iter().map(|s| s.timestamp).collect();
                prop_assert_eq!(times, sent);
            }
        }
    }

    #[test]
    fn field_numbers_are_prometheus_ones() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label::new("__name__", "a")],
                samples: vec![Sample {
                    value: 1.5,
                    timestamp: 7,
                }],
                exemplars: vec![Exemplar {
                    labels: vec![Label::new("traceID", "ab")],
                    value: 0.25,
                    timestamp: 9,
                }],
            }],
            metadata: vec![MetricMetadata {
                r#type: MetricType::Counter as i32,
                metric_family_name: "a".into(),
                help: String::new(),
                unit: String::new(),
            }],
        };
        let bytes = prost::Message::encode_to_vec(&request);
        // WriteRequest.timeseries is field 1 (length-delimited: tag 0x0a) and metadata field 3
        // (0x1a); in TimeSeries, labels 1 (0x0a), samples 2 (0x12), exemplars 3 (0x1a).
        assert_eq!(bytes[0], 0x0a);
        let series_len = bytes[1] as usize;
        assert_eq!(bytes[2 + series_len], 0x1a);
        let series = &bytes[2..2 + series_len];
        assert_eq!(series[0], 0x0a);
        let label_len = series[1] as usize;
        assert_eq!(
            &series[2..2 + label_len],
            b"\x0a\x08__name__\x12\x01a",
            "Label.name is 1, Label.value 2"
        );
        let sample = &series[2 + label_len..];
        assert_eq!(sample[0], 0x12);
        // Sample.value is field 1, a double (tag 0x09); timestamp 2, a varint (0x10).
        assert_eq!(sample[2], 0x09);
        assert_eq!(f64::from_le_bytes(sample[3..11].try_into().unwrap()), 1.5);
        assert_eq!(&sample[11..13], &[0x10, 7]);
        assert_eq!(sample[13], 0x1a);
        assert_eq!(decode(&encode(&request)).unwrap(), request);
    }
}
