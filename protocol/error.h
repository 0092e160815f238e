/* SPDX-License-Identifier: MIT */
/*
 * The error carried by a FAILURE result: a type a program can switch on and
 * a message a person can act on.  The types are listed in PROTOCOL.md.
 */
#ifndef CELERIAC_PROTOCOL_ERROR_H
#define CELERIAC_PROTOCOL_ERROR_H

#define ERROR_INVALID_MESSAGE "InvalidMessage"
#define ERROR_UNKNOWN_TASK "UnknownTask"
#define ERROR_INVALID_ARGUMENT "InvalidArgument"
#define ERROR_PAYLOAD_TOO_LARGE "PayloadTooLarge"
#define ERROR_UNKNOWN_ALGORITHM "UnknownAlgorithm"
#define ERROR_WORKER_LOST "WorkerLost"
#define ERROR_TIME_LIMIT "TimeLimitExceeded"
#define ERROR_EXPIRED "Expired"
#define ERROR_MAX_DELIVERIES "MaxDeliveriesExceeded"
#define ERROR_INTERNAL "InternalError"
/* The outcome could not be stored as planned: a key the finish script
 * writes (reply stream, scheduled set, dead-letter stream) has the wrong
 * type. */
#define ERROR_STORE_FAILED "StoreFailed"
#define ERROR_RESULT_TOO_LARGE "ResultTooLarge"
/* Sources (PROTOCOL.md, "Sources"). */
/* A url source's failures are named by the fetcher (worker/fetch.h,
 * fetch_error_name()): HTTPError, TooManyRedirects, BodyTooLarge, Timeout,
 * DNSError, AddressRefused, TLSError, BadURL, SchemeRefused, ConnectError,
 * BadResponse.  A path source's: */
#define ERROR_NO_FILES_ROOT "NoFilesRoot"
#define ERROR_PATH_OUTSIDE_ROOT "PathOutsideRoot"
#define ERROR_FILE_NOT_FOUND "FileNotFound"
#define ERROR_NOT_A_FILE "NotAFile"
#define ERROR_PERMISSION_DENIED "PermissionDenied"
#define ERROR_FILE_CHANGED "FileChanged"
/* An upload source (worker/upload.h). */
#define ERROR_UPLOAD_STALLED "UploadStalled"
#define ERROR_UPLOAD_LOST "UploadLost"
#define ERROR_UPLOAD_INCOMPLETE "UploadIncomplete"
/* Not run: its id is in <prefix>revoked (result status REVOKED). */
#define ERROR_REVOKED "Revoked"

/* A fixed-size error: no allocation, so it can be filled anywhere. */
struct proto_error {
    char type[64];     /* one of the ERROR_* names, or a task's own */
    char message[512]; /* one sentence for a person */
};

/* Fills *err (if not NULL); always returns -1 so callers can return it. */
int proto_error_set(struct proto_error *err, const char *type,
                    const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
