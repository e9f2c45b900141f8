module github.com/fieldgate/fieldgate

go 1.26.8
