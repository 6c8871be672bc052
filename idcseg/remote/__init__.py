"""What comes from IDC over the network: the anonymous S3 client (``bucket``), segment rows
read from SEG headers in IDC's buckets (``fetch``) and IDC's published seg_index (``segindex``)."""
