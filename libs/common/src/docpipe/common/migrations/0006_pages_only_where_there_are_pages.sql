-- page_start/page_end mean PDF pages, PowerPoint slides and Excel sheets (1-based); they
-- are null for formats without pages (Word, HTML, CSV, text, Markdown), as is the
-- document's page_count. Chunks of those formats written before this migration carry
-- logical section numbers: they become null here.

alter table chunks alter column page_start drop not null;
alter table chunks alter column page_end drop not null;
alter table chunks add constraint chunks_pages_both_or_neither
    check ((page_start is null) = (page_end is null));

-- The migrating role owns the tables without being a superuser (Aurora's master user):
-- FORCE row-level security would hide every row from it (no tenant is set), so it is
-- lifted for the two updates below and restored. The keyword-statistics trigger on
-- chunks recounts lexemes of updated rows; page numbers change no lexeme, so it is off
-- for this one statement.
alter table chunks no force row level security;
alter table documents no force row level security;
alter table chunks disable trigger chunks_keyword_stats_update;

update chunks c
   set page_start = null, page_end = null
  from documents d
 where d.id = c.document_id
   and d.content_type not in (
       'application/pdf',
       'application/vnd.openxmlformats-officedocument.presentationml.presentation',
       'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')
   and c.page_start is not null;

update documents
   set page_count = null
 where page_count is not null
   and content_type not in (
       'application/pdf',
       'application/vnd.openxmlformats-officedocument.presentationml.presentation',
       'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');

alter table chunks enable trigger chunks_keyword_stats_update;
alter table documents force row level security;
alter table chunks force row level security;
