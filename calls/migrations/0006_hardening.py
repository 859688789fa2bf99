# Reserved for hardening (issue 13): schema or data changes other than the media counters.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("calls", "0005_console")]

    operations: list[migrations.operations.base.Operation] = []
