//! A list streamed whole as one JSON array: rows become chunks of the body
//! as the service yields them, so memory holds a frame, never the list.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures_util::{StreamExt, stream};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::service::RowStream;

/// Bytes gathered before a chunk of the body goes out.
const FRAME: usize = 32 * 1024;

/// A `200` whose body is `[row,row,...]`. The first row is read before the
/// status goes out, so a failure there is an ordinary error answer. A failure
/// later aborts the body: no closing `]` and no last chunk, so the client sees
/// a broken transfer, never a shorter list that looks complete.
pub async fn json_array<T: Serialize + Send + 'static>(mut rows: RowStream<T>) -> Result<Response> {
    let first = rows.next().await.transpose()?;
    let encoder = Encoder {
        rows,
        first,
        opened: false,
        sent: 0,
        done: false,
    };
    let body = stream::try_unfold(encoder, |mut e| async move {
        Ok::<_, std::io::Error>(e.frame().await?.map(|frame| (frame, e)))
    });
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

struct Encoder<T> {
    rows: RowStream<T>,
    /// The row read before the answer started.
    first: Option<T>,
    opened: bool,
    sent: u64,
    done: bool,
}

impl<T: Serialize> Encoder<T> {
    /// The next chunk of the array, `None` after the closing `]`.
    async fn frame(&mut self) -> std::io::Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        let mut buf = Vec::with_capacity(FRAME + 4096);
        if !self.opened {
            buf.push(b'[');
            self.opened = true;
        }
        loop {
            let row = match self.first.take() {
                Some(row) => Some(row),
                None => self
                    .rows
                    .next()
                    .await
                    .transpose()
                    .map_err(|e| self.abort(e))?,
            };
            let Some(row) = row else {
                buf.push(b']');
                self.done = true;
                return Ok(Some(buf.into()));
            };
            if self.sent > 0 {
                buf.push(b',');
            }
            serde_json::to_writer(&mut buf, &row)
                .map_err(|e| self.abort(Error::Internal(e.into())))?;
            self.sent += 1;
            if buf.len() >= FRAME {
                return Ok(Some(buf.into()));
            }
        }
    }

    /// Logs why the list stops short and makes the error that aborts the body.
    fn abort(&mut self, e: Error) -> std::io::Error {
        self.done = true;
        tracing::error!(error = ?e, rows_sent = self.sent, "a streamed list failed: the response is aborted");
        std::io::Error::other("the list could not be read to its end")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn rows(items: Vec<Result<serde_json::Value>>) -> RowStream<serde_json::Value> {
        stream::iter(items).boxed()
    }

    async fn body_of(resp: Response) -> (Vec<u8>, bool) {
        let mut frames = resp.into_body().into_data_stream();
        let mut bytes = vec![];
        while let Some(frame) = frames.next().await {
            match frame {
                Ok(b) => bytes.extend_from_slice(&b),
                Err(_) => return (bytes, false),
            }
        }
        (bytes, true)
    }

    #[tokio::test]
    async fn a_whole_list_is_one_json_array() {
        let (body, ok) = body_of(json_array(rows(vec![])).await.unwrap()).await;
        assert!(ok);
        assert_eq!(body, b"[]");
        let many: Vec<_> = (0..5000)
            .map(|i| Ok(serde_json::json!({"id": i, "pad": "x".repeat(50)})))
            .collect();
        let (body, ok) = body_of(json_array(rows(many)).await.unwrap()).await;
        assert!(ok);
        let v: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        assert_eq!(v.len(), 5000);
        assert_eq!(v[4999]["id"], 4999);
    }

    #[tokio::test]
    async fn a_failure_before_the_first_row_is_an_error_answer() {
        let failing = rows(vec![Err(Error::Internal(anyhow::anyhow!("db down")))]);
        assert!(matches!(json_array(failing).await, Err(Error::Internal(_))));
    }

    #[tokio::test]
    async fn a_failure_later_aborts_the_body_without_closing_the_array() {
        // Past the first frame, and within it: neither ends with `]`.
        for before in [3, 2000] {
            let mut items: Vec<_> = (0..before)
                .map(|i| Ok(serde_json::json!({"id": i, "pad": "x".repeat(50)})))
                .collect();
            items.push(Err(Error::Internal(anyhow::anyhow!("db gone"))));
            items.push(Ok(serde_json::json!({"id": "never"})));
            let (body, ok) = body_of(json_array(rows(items)).await.unwrap()).await;
            assert!(!ok, "the body must fail");
            assert!(!body.ends_with(b"]"));
            assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err());
        }
    }
}
