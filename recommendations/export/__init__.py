"""The incremental export for retraining: rows, destinations (folder, S3), watermark."""
